"""Every pair a blind reader has judged, against the project's filters and scorers.

The blind reads under benchmarks/blind_read/ hold, per folder, the pairs a reader saw
(*.pairs.jsonl, not committed: they quote the corpora) and the verdicts (*.verdicts.jsonl,
committed). This joins them into one set, the same pair once (its first verdict), and asks:

- **filters**: which pairs would each default filter drop today, by the reader's verdict? A
  filter earns its place when what it drops is mismatch or unusable;
- **scorers** (`--scorers`): does a score tell usable pairs from mismatched ones (ROC-AUC)?
  ``embedding`` and ``likelihood`` are the relevance scorers of `generate`; ``judge`` asks the
  embedded instruct model "Does the response do what the request asks? Yes or No" and scores
  log p(Yes) - log p(No), the cheapest model judge there is (one forward pass, no generation).

    python benchmarks/judged_pairs.py                      # filters only, seconds
    python benchmarks/judged_pairs.py --select 'v8|v9' --scorers embedding likelihood judge

Pairs files missing (a fresh clone has none): it says how many verdicts it could not join and
goes on with the rest; with none at all it exits 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from real_corpora import BLIND, read_jsonl  # noqa: E402

VERDICTS = ("usable", "mismatch", "unusable")
# Reads of rewritten outputs judge the rewrite, not what generate keeps.
SKIP = ("rewrite-",)


def judged(select: str | None = None) -> tuple[list[dict], int]:
    """(pairs with their verdict and folder, verdicts whose pairs file is missing)."""
    pairs: dict[tuple[str, str, str], dict] = {}
    missing = 0
    for verdicts_file in sorted(BLIND.glob("*/*verdicts*.jsonl")):
        folder = verdicts_file.parent
        if folder.name.startswith(SKIP) or (select and not re.search(select, folder.name)):
            continue
        stem = verdicts_file.name.split(".")[0]  # docs.verdicts.jsonl, mixed.second-reader.verdicts.jsonl
        shown = {p["n"]: p for p in read_jsonl(folder / f"{stem}.pairs.jsonl")}
        for v in read_jsonl(verdicts_file):
            p = shown.get(v["n"])
            if p is None:
                missing += 1
                continue
            key = (p["instruction"], p.get("input", ""), p["output"])
            pairs.setdefault(key, {**p, "input": p.get("input", ""), "verdict": v["verdict"], "read": folder.name})
    return list(pairs.values()), missing


def filter_table(pairs: list[dict]) -> list[tuple[str, Counter]]:
    """Per default filter (passage and pair, per record), the verdicts of the pairs it drops."""
    from backtranslate.filters import default_pair_filters, default_passage_filters
    from backtranslate.records import Record

    chain = [f for f in default_passage_filters() + default_pair_filters() if not f.dataset_wide]
    dropped = {f.name: Counter() for f in chain}
    kept = Counter()
    for p in pairs:
        record = Record(output=p["output"], instruction=p["instruction"], input=p["input"])
        for f in chain:
            verdict = f.filter(record)
            if verdict is not True and not (isinstance(verdict, tuple) and verdict[0]):
                dropped[f.name][p["verdict"]] += 1
                break
        else:
            kept[p["verdict"]] += 1
    return [*((name, c) for name, c in dropped.items() if c), ("(kept)", kept)]


def judge_scores(pairs: list[dict]) -> list[float]:
    """log p(Yes) - log p(No) of the embedded instruct model asked whether the output fulfils the request."""
    import torch

    from backtranslate import models

    model, tokenizer = models.load("default")
    model.eval()
    first = lambda words: sorted({tokenizer.encode(w, add_special_tokens=False)[0] for w in words})  # noqa: E731
    yes, no = first(("Yes", "yes", " Yes", " yes")), first(("No", "no", " No", " no"))
    scores = []
    for p in pairs:
        given = f"\n\nInput:\n{p['input'][:800]}" if p["input"].strip() else ""
        ask = (
            f"Here is a request and a response.\n\nRequest: {p['instruction']}{given}\n\n"
            f"Response:\n{p['output'][:1500]}\n\nDoes the response do what the request asks? Answer Yes or No."
        )
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": ask}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        with torch.no_grad():
            logprobs = model(ids).logits[0, -1].log_softmax(-1)
        scores.append(float(torch.logsumexp(logprobs[yes], 0) - torch.logsumexp(logprobs[no], 0)))
    return scores


def scores_of(name: str, pairs: list[dict]) -> list[float]:
    from backtranslate.filters.relevance import load_scorer
    from backtranslate.records import Record

    if name == "judge":
        return judge_scores(pairs)
    records = [Record(output=p["output"], instruction=p["instruction"], input=p["input"]) for p in pairs]
    return load_scorer(name).score(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", help="only reads whose folder name matches this regex (e.g. 'v8|v9')")
    parser.add_argument("--scorers", nargs="*", default=[], choices=("embedding", "likelihood", "judge"))
    args = parser.parse_args()
    pairs, missing = judged(args.select)
    print(f"{len(pairs)} judged pairs ({missing} verdicts without their pairs file)")
    if not pairs:
        return 0
    print("verdicts:", dict(Counter(p["verdict"] for p in pairs)))
    print("\nfilter | usable | mismatch | unusable  (pairs each default filter drops; (kept): what passes all)")
    for name, c in filter_table(pairs):
        print(f"{name} | {c['usable']} | {c['mismatch']} | {c['unusable']}")
    if args.scorers:
        from sklearn.metrics import roc_auc_score

        both = [p for p in pairs if p["verdict"] in ("usable", "mismatch")]
        labels = [p["verdict"] == "usable" for p in both]
        print(f"\nscorer | ROC-AUC usable vs mismatch ({len(both)} pairs) | s / pair")
        for name in args.scorers:
            started = time.perf_counter()
            scores = scores_of(name, both)
            per_pair = (time.perf_counter() - started) / len(both)
            print(f"{name} | {roc_auc_score(labels, scores):.3f} | {per_pair:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

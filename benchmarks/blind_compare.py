"""Two or more runs judged by the same blind reader: their kept pairs mixed into one file.

A reader's own strictness moves a usable rate by more than most changes do (two readers of the
same 30 pairs have differed by 10 points), so comparing two runs each read by its own reader
mixes the reader into the result. Here every run's kept pairs go, shuffled and without any mark
of their run, into one file that one reader judges (and a second reader, for the agreement);
`score` then counts each run's verdicts, and for the passages that every run kept, how often
one run's instruction was judged better than the other's.

    python benchmarks/blind_compare.py write demo-adapters \\
        old=runs/s26/emails-adapter-v4 new=runs/s26/emails-c128
    # a reader writes benchmarks/blind_read/demo-adapters/mixed.verdicts.jsonl
    python benchmarks/blind_compare.py score demo-adapters
    # 30 random kept pairs of each run (the blind read's sample), still one reader for both:
    python benchmarks/blind_compare.py write mail-v8 --sample 30 old=runs/real-bench/v6-k1/mail new=...
    # what a filter drops, beside what the run keeps (its precision, on pairs it was not tuned on):
    python benchmarks/blind_compare.py write mail-drops kept=runs/x/mail \\
        ungrounded=runs/x/mail/rejected.jsonl::^ungrounded

A pair that two runs kept word for word is shown once and counts for both. The key (which row
came from which run) is written beside the pairs as key.json; the reader is given only
RUBRIC.md and mixed.pairs.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from real_corpora import BLIND, RUBRIC, read_jsonl  # noqa: E402

RANK = {"usable": 2, "mismatch": 1, "unusable": 0}


def pairs_of(spec: str) -> list[dict]:
    """A run's kept pairs (a folder with data.jsonl), or the rows of a .jsonl file; after "::", only
    the rows whose reject reason matches that regex (a filter's drops, to read what it drops)."""
    path, _, reason = spec.partition("::")
    rows = read_jsonl(Path(path) if path.endswith(".jsonl") else Path(path) / "data.jsonl")
    if reason:
        rows = [r for r in rows if r.get("instruction") and re.search(reason, r["meta"].get("reject_reason", ""))]
    return rows


def write(name: str, runs: dict[str, str], sample: int | None = None) -> Path:
    rows: dict[tuple[str, str, str], dict] = {}
    for label, spec in runs.items():
        kept = pairs_of(spec)
        if sample is not None and sample < len(kept):  # n random kept pairs per run, as a blind read takes
            kept = random.Random(f"blind-compare:{name}:{label}").sample(kept, sample)
        for r in kept:
            key = (r["instruction"], r["input"], r["output"])
            entry = rows.setdefault(key, {"runs": [], "passages": []})
            entry["runs"].append(label)
            entry["passages"].append(r["meta"].get("passage_id") or r["id"])
    order = random.Random(f"blind-compare:{name}").sample(list(rows), len(rows))
    folder = BLIND / name
    folder.mkdir(parents=True, exist_ok=True)
    key = {}
    with (folder / "mixed.pairs.jsonl").open("w", encoding="utf-8") as f:
        for n, (instruction, input_, output) in enumerate(order, 1):
            f.write(
                json.dumps({"n": n, "instruction": instruction, "input": input_, "output": output}, ensure_ascii=False)
                + "\n"
            )
            key[n] = rows[(instruction, input_, output)]
    (folder / "key.json").write_text(
        json.dumps({"runs": {k: str(v) for k, v in runs.items()}, "rows": key}, indent=1) + "\n", encoding="utf-8"
    )
    (folder / "RUBRIC.md").write_text(RUBRIC + "\n", encoding="utf-8")
    return folder


def score(name: str) -> dict:
    folder = BLIND / name
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    labels = list(key["runs"])
    report = {}
    for verdicts_file in sorted(folder.glob("mixed*.verdicts.jsonl")):
        verdicts = {v["n"]: v["verdict"] for v in read_jsonl(verdicts_file)}
        counts = {label: Counter() for label in labels}
        by_passage: dict[str, dict[str, str]] = {label: {} for label in labels}
        for n, entry in key["rows"].items():
            verdict = verdicts.get(int(n))
            if verdict is None:
                continue
            for label, passage in zip(entry["runs"], entry["passages"]):
                counts[label][verdict] += 1
                by_passage[label][passage] = verdict
        pairwise = {}
        for a, b in combinations(labels, 2):
            shared = by_passage[a].keys() & by_passage[b].keys()
            wins = Counter(
                "same"
                if RANK[by_passage[a][p]] == RANK[by_passage[b][p]]
                else a
                if RANK[by_passage[a][p]] > RANK[by_passage[b][p]]
                else b
                for p in shared
            )
            pairwise[f"{a} vs {b}"] = {"shared passages": len(shared), **wins}
        report[verdicts_file.name] = {
            "counts": {label: {v: counts[label].get(v, 0) for v in RANK} for label in labels},
            "judged": len(verdicts),
            "pairwise": pairwise,
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="mix the runs' kept pairs into one blind-read file")
    w.add_argument("name")
    w.add_argument(
        "runs",
        nargs="+",
        help="label=run folder (its data.jsonl) or label=file.jsonl[::regex on meta.reject_reason]",
    )
    w.add_argument("--sample", type=int, help="this many random kept pairs per run (default: all)")
    s = sub.add_parser("score", help="count each run's verdicts")
    s.add_argument("name")
    args = parser.parse_args()
    if args.command == "write":
        runs = dict(item.split("=", 1) for item in args.runs)
        folder = write(args.name, runs, args.sample)
        print(f"wrote {folder}/mixed.pairs.jsonl ({sum(1 for _ in open(folder / 'mixed.pairs.jsonl'))} pairs)")
        return 0
    for file, r in score(args.name).items():
        print(f"{file}: {r['judged']} judged")
        for label, c in r["counts"].items():
            total = sum(c.values())
            rate = f"{c['usable'] / total:.0%}" if total else "-"
            print(
                f"  {label}: usable {c['usable']} / mismatch {c['mismatch']} / unusable {c['unusable']} of {total} ({rate})"
            )
        for pair, w in r["pairwise"].items():
            print(f"  {pair}: {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What `generate` keeps from real corpora that nobody on the project wrote: mail, docs, web pages.

Rebuilds the corpora from pinned public sources (benchmarks/real_corpora_data.py), runs
`generate` with its defaults on each, and prints per corpus: documents, passages, kept pairs,
drops by reason, the automatic junk checks (backtranslate/filters/junk.py) on the kept outputs,
relevance scores, time per kept pair, and the blind-read rates where verdicts exist.

Blind read: `--sample` writes 30 random kept pairs per corpus to benchmarks/blind_read/<tag>/
<corpus>.pairs.jsonl for a reader who did not write the filters; their verdicts go beside them
as <corpus>.verdicts.jsonl ({"n": ..., "verdict": "usable" | "mismatch" | "unusable"}), and the
next run prints the rates (RUBRIC below is all the reader is given).

`--calibrate` measures the relevance scorers: ROC-AUC of matched pairs (each candidate with its
own passage) against mismatched ones (the same instruction on another passage of the same corpus),
and against the blind reader's usable vs mismatch verdicts, with precision and recall at each
threshold.

    python benchmarks/real_corpora.py --model runs/demo/backward --tag k1
    python benchmarks/real_corpora.py --model runs/demo/backward --tag k4 --num-candidates 4
    python benchmarks/real_corpora.py --model runs/demo/backward --tag k1 --calibrate

Without the sources (no mirror and no network) it says so and exits 0: nothing here is needed
to build or test the package.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RUBRIC = """You judge instruction-tuning pairs: an instruction a user gives an AI assistant, an optional
input, and the output (the assistant's answer). For each pair give one verdict:
- usable: the instruction is a clear request that the output fulfils, and the output is a
  self-contained, sensible response to it;
- mismatch: the output is good, self-contained text, but the instruction does not ask for it
  (wrong genre, wrong topic, asks for something the output does not do, or refers to text
  that is not there);
- unusable: the output is a fragment, noise (markup, diff hunks, navigation, boilerplate), or a
  reply that only makes sense with a message that is not given."""
CORPORA = ("mail", "docs", "web")
# The demo's own mail (written for the project): not a real corpus, but `make demo` must not get
# worse, so `--only emails` (or `--with-demo`) runs and samples it the same way.
DEMO_CORPUS = HERE.parent / "corpora" / "emails"
SAMPLE = 30
BLIND = HERE / "blind_read"


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_generate(corpus: Path, out: Path, model: str, args: argparse.Namespace) -> float:
    from backtranslate.config import GenerateConfig
    from backtranslate.generate import generate

    overrides = {"num_candidates": args.num_candidates} if args.num_candidates else {}
    if args.no_relevance:
        overrides["relevance"] = False
    if args.balance:
        overrides["balance"] = args.balance
    if args.retry:
        overrides["retry"] = args.retry
    if args.no_prime:
        overrides["prime"] = False
    if args.max_tokens:
        overrides["max_tokens"] = args.max_tokens
    if args.confidence or args.confidence_threshold is not None:
        overrides["confidence"] = True
    if args.confidence_threshold is not None:
        overrides["confidence_threshold"] = args.confidence_threshold
    cfg = GenerateConfig(corpus=str(corpus), out=str(out), model=model, overwrite=True, **overrides)
    started = time.perf_counter()
    generate(cfg)
    return time.perf_counter() - started


def reasons(rows: list[dict]) -> Counter:
    return Counter(r["reason"].split(":")[0] for r in rows)


def summarize(name: str, out: Path, seconds: float | None) -> dict:
    from backtranslate.filters.junk import CHECKS, junk

    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    kept = read_jsonl(out / "data.jsonl")
    rejected = read_jsonl(out / "rejected.jsonl")
    passage_drops = reasons([r for r in rejected if r["stage"] == "passage"])
    pair_drops = reasons([r for r in rejected if r["stage"] == "pair"])
    flagged = [junk(r["output"]) for r in kept]
    relevance = sorted(r["meta"].get("relevance") for r in kept if r["meta"].get("relevance") is not None)
    candidates = stats["pairs"]["candidates"]
    seconds = seconds if seconds is not None else stats["generation"]["seconds"]
    row = {
        "corpus": name,
        "documents": stats["read"]["documents"],
        "segmented": stats["passages"]["segmented"],
        "passages": stats["passages"]["kept"],
        "candidates": candidates,
        "kept": len(kept),
        "retried": stats["pairs"].get("retried", {}),
        "passage_drops": dict(passage_drops.most_common()),
        "pair_drops": dict(pair_drops.most_common()),
        "read_skipped": stats["read"].get("skipped", {}),
        "cleaned": stats["read"].get("cleaned", {}),
        "junk": {c: sum(c in f for f in flagged) for c in CHECKS},
        "junk_any": sum(bool(f) for f in flagged),
        "missing_input_share": round(pair_drops.get("missing_input", 0) / max(candidates, 1), 3),
        "kept_per_passage": round(len(kept) / max(stats["passages"]["kept"], 1), 3),
        "relevance_median": relevance[len(relevance) // 2] if relevance else None,
        "seconds": round(seconds, 1),
        "seconds_per_kept": round(seconds / max(len(kept), 1), 2),
        "languages": stats.get("languages", {}).get("mix", {}),
        "task_mix": {k: stats["task_mix"][k] for k in ("types", "entropy", "top_type_share", "top_opening_share")},
    }
    return row


def blind_sample(name: str, out: Path, tag: str, n: int = SAMPLE) -> Path:
    """n random kept pairs for the blind reader: only what the reader needs, no scores."""
    kept = read_jsonl(out / "data.jsonl")
    picked = random.Random(f"{tag}:{name}").sample(kept, min(n, len(kept)))
    folder = BLIND / tag
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pairs.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, r in enumerate(picked, 1):
            f.write(
                json.dumps(
                    {
                        "n": i,
                        "id": r["id"],
                        "instruction": r["instruction"],
                        "input": r["input"],
                        "output": r["output"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (folder / "RUBRIC.md").write_text(RUBRIC + "\n", encoding="utf-8")
    return path


def swapped_sample(before: Path, after: Path, names: list[str]) -> dict:
    """The passages where two runs kept different instructions (e.g. --balance on and off), each
    side in its own blind-read file (``balance-before``, ``balance-after``), in different random
    orders; with the readers' verdicts there, their usable / mismatch / unusable counts."""
    sides: dict[str, list[dict]] = {"before": [], "after": []}
    for name in names:
        a = {r["meta"].get("passage_id"): r for r in read_jsonl(before / name / "data.jsonl")}
        b = {r["meta"].get("passage_id"): r for r in read_jsonl(after / name / "data.jsonl")}
        for key, row in a.items():
            if key in b and row["instruction"] != b[key]["instruction"]:
                sides["before"].append(row)
                sides["after"].append(b[key])
    rates = {}
    for side, rows in sides.items():
        folder = BLIND / f"balance-{side}"
        folder.mkdir(parents=True, exist_ok=True)
        verdicts = read_jsonl(folder / "swapped.verdicts.jsonl")
        if verdicts:
            rates[side] = dict(Counter(v["verdict"] for v in verdicts))
            continue
        with (folder / "swapped.pairs.jsonl").open("w", encoding="utf-8") as f:
            for i, r in enumerate(random.Random(f"balance-{side}").sample(rows, len(rows)), 1):
                keep = {k: r[k] for k in ("id", "instruction", "input", "output")}
                f.write(json.dumps({"n": i, **keep}, ensure_ascii=False) + "\n")
        (folder / "RUBRIC.md").write_text(RUBRIC + "\n", encoding="utf-8")
    return {"swapped": len(sides["before"]), "blind_read": rates}


def blind_rates(name: str, tag: str) -> dict | None:
    verdicts = read_jsonl(BLIND / tag / f"{name}.verdicts.jsonl")
    if not verdicts:
        return None
    counts = Counter(v["verdict"] for v in verdicts)
    return {"n": len(verdicts), **{k: counts.get(k, 0) for k in ("usable", "mismatch", "unusable")}}


def calibrate(outs: dict[str, Path], tag: str, scorers: list[str]) -> dict:
    """ROC-AUC of each relevance scorer, matched vs shuffled pairs and blind-read verdicts."""
    from backtranslate.filters.relevance import load_scorer
    from backtranslate.metrics import roc_auc
    from backtranslate.records import Record

    matched, mismatched = [], []
    for name, out in outs.items():
        rows = [r for r in read_jsonl(out / "candidates.jsonl") if r["instruction"].strip()]
        rng = random.Random(f"calibrate:{name}")
        rows = rng.sample(rows, min(150, len(rows)))
        for i, r in enumerate(rows):
            other = rows[(i + 1 + rng.randrange(len(rows) - 1)) % len(rows)] if len(rows) > 1 else r
            # Each pair as the relevance filter scores it: a reply against its own words and its
            # parent's (relevance v2), so the shuffled pair takes the other passage's input too.
            matched.append(
                Record(
                    output=r["output"],
                    input=r.get("input", ""),
                    instruction=r["instruction"],
                    id=f"m{name}{i}",
                    meta={"passage_id": r["meta"].get("passage_id")},
                )
            )
            mismatched.append(
                Record(
                    output=other["output"],
                    input=other.get("input", ""),
                    instruction=r["instruction"],
                    id=f"x{name}{i}",
                    meta={"passage_id": other["meta"].get("passage_id")},
                )
            )
    labelled = []  # (record, usable?) from the blind read
    for name in outs:
        pairs = {p["n"]: p for p in read_jsonl(BLIND / tag / f"{name}.pairs.jsonl")}
        for v in read_jsonl(BLIND / tag / f"{name}.verdicts.jsonl"):
            p = pairs.get(v["n"])
            if p and v["verdict"] in ("usable", "mismatch"):
                labelled.append(
                    (
                        Record(
                            output=p["output"], instruction=p["instruction"], input=p["input"], id=f"b{name}{v['n']}"
                        ),
                        v["verdict"] == "usable",
                    )
                )
    report = {}
    for scorer_name in scorers:
        scorer = load_scorer(scorer_name)
        started = time.perf_counter()
        pos, neg = scorer.score(matched), scorer.score(mismatched)
        seconds = time.perf_counter() - started
        entry = {
            "pairs": len(pos) + len(neg),
            "auc_shuffled": round(roc_auc(pos, neg), 3),
            "ms_per_pair": round(1000 * seconds / max(len(pos) + len(neg), 1), 1),
            "thresholds": [],
        }
        for t in sorted({round(x, 2) for x in _quantiles(pos + neg, 19)}):
            kept_pos = sum(s >= t for s in pos)
            kept_neg = sum(s >= t for s in neg)
            entry["thresholds"].append(
                {
                    "threshold": t,
                    "precision": round(kept_pos / max(kept_pos + kept_neg, 1), 3),
                    "recall": round(kept_pos / len(pos), 3),
                }
            )
        if labelled and len({y for _, y in labelled}) == 2:
            scores = scorer.score([r for r, _ in labelled])
            entry["auc_blind_read"] = round(
                roc_auc(
                    [s for s, (_, y) in zip(scores, labelled) if y], [s for s, (_, y) in zip(scores, labelled) if not y]
                ),
                3,
            )
            entry["blind_read_pairs"] = len(labelled)
        report[scorer_name] = entry
    return report


def _quantiles(values: list[float], n: int) -> list[float]:
    ordered = sorted(values)
    return [ordered[int(len(ordered) * (i + 1) / (n + 1))] for i in range(n)]


def cpu_class() -> str:
    import platform

    import torch

    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        pass
    model = platform.processor() or "unknown CPU"
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    amx = "amx_tile" in flags
    return (
        f"{model}, {torch.backends.cpu.get_cpu_capability()}, bf16 {'yes' if bf16 else 'no'}, "
        f"AMX {'yes' if amx else 'no'}, {__import__('os').cpu_count()} cores"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo/backward", help="the backward model (make demo's adapter)")
    parser.add_argument("--corpora", default="runs/real-corpora", help="where the corpora are built")
    parser.add_argument("--out", default="runs/real-bench", help="where the generate runs go")
    parser.add_argument("--tag", default="default", help="names this configuration's runs and blind-read files")
    parser.add_argument("--only", nargs="*", choices=CORPORA + ("emails",), help="these corpora only")
    parser.add_argument("--with-demo", action="store_true", help="also the demo's corpora/emails")
    parser.add_argument("--num-candidates", type=int, help="generate's --num-candidates (default: its default)")
    parser.add_argument("--no-relevance", action="store_true", help="generate's --no-relevance")
    parser.add_argument("--confidence", action="store_true", help="generate's --confidence")
    parser.add_argument(
        "--confidence-threshold", type=float, help="generate's --confidence-threshold (very low: score, keep all)"
    )
    parser.add_argument("--retry", type=int, help="generate's --retry (sampled candidates where greedy's was dropped)")
    parser.add_argument(
        "--no-prime", action="store_true", help="generate's --no-prime (instructions not opened by the text's kind)"
    )
    parser.add_argument("--max-tokens", type=int, help="generate's --max-tokens (longest passage)")
    parser.add_argument("--balance", help="generate's --balance (with --num-candidates 2 or more)")
    parser.add_argument("--reuse", action="store_true", help="summarize existing runs without generating")
    parser.add_argument("--sample", action="store_true", help="write the blind-read samples")
    parser.add_argument(
        "--calibrate",
        nargs="*",
        choices=("embedding", "likelihood"),
        help="measure these relevance scorers (both when none is named)",
    )
    parser.add_argument(
        "--swapped-against", help="a tag run without --balance: blind-read the passages whose pick changed"
    )
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument(
        "--split", default="bench", help="heldout: other messages and pages of the same sources (real_corpora_data)"
    )
    args = parser.parse_args()

    from real_corpora_data import CorpusUnavailable, build

    try:
        corpora = build(Path(args.corpora), split=args.split)
    except CorpusUnavailable as e:
        print(f"real_corpora: skipped, {e}")
        return 0
    corpora["emails"] = DEMO_CORPUS
    names = args.only or list(CORPORA) + (["emails"] if args.with_demo else [])
    outs = {name: Path(args.out) / args.tag / name for name in names}
    rows = []
    for name in names:
        seconds = None
        if not args.reuse:
            seconds = run_generate(corpora[name], outs[name], args.model, args)
        row = summarize(name, outs[name], seconds)
        if args.sample:
            row["blind_sample"] = str(blind_sample(name, outs[name], args.tag))
        row["blind_read"] = blind_rates(name, args.tag)
        rows.append(row)
    print(f"CPU: {cpu_class()}")
    print(f"model: {args.model}; tag {args.tag}")
    header = (
        "corpus",
        "docs",
        "passages",
        "to model",
        "kept",
        "kept/passage",
        "missing_input",
        "junk",
        "rel. median",
        "s/kept",
        "task entropy",
        "blind read (usable/mismatch/unusable)",
    )
    print(" | ".join(header))
    for r in rows:
        b = r["blind_read"]
        blind = f"{b['usable']}/{b['mismatch']}/{b['unusable']} of {b['n']}" if b else "-"
        print(
            " | ".join(
                str(x)
                for x in (
                    r["corpus"],
                    r["documents"],
                    r["segmented"],
                    r["passages"],
                    r["kept"],
                    r["kept_per_passage"],
                    f"{r['missing_input_share']:.1%}",
                    f"{r['junk_any']} ({r['junk_any'] / max(r['kept'], 1):.1%})",
                    r["relevance_median"],
                    r["seconds_per_kept"],
                    f"{r['task_mix']['entropy']} (top type {r['task_mix']['top_type_share']:.0%})",
                    blind,
                )
            )
        )
    for r in rows:
        print(
            f"\n{r['corpus']}: passage drops {r['passage_drops']}\n  pair drops {r['pair_drops']}\n"
            f"  junk by check {r['junk']}; cleaned {r['cleaned']}; read skipped {r['read_skipped']}\n"
            f"  languages {r['languages']}"
        )
    report = {"cpu": cpu_class(), "model": args.model, "tag": args.tag, "rows": rows}
    if args.swapped_against:
        report["swapped"] = swapped_sample(Path(args.out) / args.swapped_against, Path(args.out) / args.tag, names)
        print(f"\nswapped picks against {args.swapped_against}:", report["swapped"])
    if args.calibrate is not None:
        report["calibration"] = calibrate(outs, args.tag, args.calibrate or ["embedding", "likelihood"])
        print("\ncalibration:", json.dumps(report["calibration"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

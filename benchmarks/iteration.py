"""One Humpback iteration on the embedded default, with the project's seed and corpora.

    .venv/bin/python benchmarks/iteration.py [--out runs/bench-iteration] [--backward runs/demo/backward]
    .venv/bin/python benchmarks/iteration.py --tiny      # the same steps on a tiny random model, in a minute

1. the backward model: --backward, or trained with the cpu-demo preset's `train` section;
2. candidates: `generate` over corpora/ (mail, docs, web pages) with the preset's `generate` settings;
3. `iterate` with the preset's `iterate` section: M0 fine-tuned on the seed alone scores round 1,
   M1 is fine-tuned on seed + the best-scored half, and M1 curates the candidates again;
4. curation ROC-AUC (benchmarks/curation_auc.py: real pairs vs the same pairs with shuffled
   instructions, likelihood scorer) on held-out pairs no model was trained on (the Self-Instruct
   seed tasks in ../shared), for the base model zero-shot, M0 (before) and M1 (after).

Prints counts and time per round and the AUCs, and writes them to OUT/benchmark.json. Finished
steps are reused when the command is run again (delete OUT to start over).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from backtranslate.config import GenerateConfig, IterateConfig, TrainConfig, resolve
from backtranslate.curate import LikelihoodScorer
from backtranslate.generate import generate
from backtranslate.io import write_json_atomic
from backtranslate.iterate import iterate
from backtranslate.models import MANIFEST
from backtranslate.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curation_auc import measure, mismatched, real_pairs  # noqa: E402  (a sibling benchmark)

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "cpu-demo.yaml"
HELDOUT = ROOT.parent / "shared" / "data" / "self-instruct-seed-tasks.jsonl"
console = Console(width=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="the run's folder [default: runs/bench-iteration, or runs/bench-iteration-tiny]")
    parser.add_argument("--backward", help="a trained backward model folder (default: train one with the preset)")
    parser.add_argument("--corpus", default=str(ROOT / "corpora"))
    parser.add_argument("--heldout", default=str(HELDOUT), help="held-out pairs for the curation AUC")
    parser.add_argument("--auc-pairs", type=int, default=60)
    parser.add_argument(
        "--tiny", action="store_true", help="a tiny random model and a few steps: checks the wiring only"
    )
    args = parser.parse_args()
    # library notices about their own internals (transformers, peft) say nothing about the numbers
    warnings.filterwarnings("ignore", category=FutureWarning)
    if not Path(args.heldout).is_file():
        sys.exit(f"Held-out pairs {args.heldout} not found; pass --heldout FILE (pairs no model was trained on).")

    out = Path(args.out or ("runs/bench-iteration-tiny" if args.tiny else "runs/bench-iteration"))
    model, train_over, gen_over, loop_over = "default", {}, {}, {}
    if args.tiny:
        from backtranslate.testing import build_tiny_model

        model = str(out / "tiny-model")
        if not (out / "tiny-model" / "config.json").is_file():
            build_tiny_model(out / "tiny-model")
        short = {"max_steps": 2, "max_length": 256, "precision": "fp32", "batch_size": 4}
        train_over = {**short, "val_fraction": 0.0}
        # a random model writes no instruction the filters would keep; the loop still needs pairs
        gen_over = {"max_passages": 8, "max_new_tokens": 16, "precision": "fp32", "filter": False}
        loop_over = {**short, "val_fraction": 0.0}
        args.auc_pairs = min(args.auc_pairs, 8)
    times: dict[str, float] = {}

    backward = args.backward
    if backward is None:
        backward = str(out / "backward")
        if not (Path(backward) / MANIFEST).is_file():
            console.rule("backward model")
            started = time.perf_counter()
            train(resolve(TrainConfig, str(PRESET), {**train_over, "model": model, "output_dir": backward}))
            times["train backward"] = time.perf_counter() - started

    candidates = out / "candidates"
    console.rule(f"candidates from {args.corpus}")
    started = time.perf_counter()
    generated = generate(
        resolve(
            GenerateConfig, str(PRESET), {**gen_over, "corpus": args.corpus, "model": backward, "out": str(candidates)}
        )
    )
    times["generate"] = time.perf_counter() - started

    loop = resolve(
        IterateConfig,
        str(PRESET),
        {**loop_over, "model": model, "dataset": str(candidates), "output_dir": str(out / "iterate"), "rounds": 1},
    )
    summary = iterate(loop, on_step=lambda message: console.rule(message))

    real = real_pairs(args.heldout, args.auc_pairs)
    fake = mismatched(real)
    aucs = {}
    for label, scorer_model in (
        ("base model, zero-shot", model),
        ("M0: seed only (before)", str(out / "iterate" / "round-0" / "forward")),
        ("M1: seed + curated (after)", summary["final"]["model"]),
    ):
        console.rule(f"curation AUC: {label}")
        aucs[label] = measure(LikelihoodScorer(scorer_model), real, fake)

    report = {
        "tiny": args.tiny,
        "backward": backward,
        "candidates": generated.stats["pairs"],
        "passages": generated.stats["passages"]["kept"],
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "rounds": summary["rounds"],
        "final": summary["final"],
        "auc": aucs,
        "heldout": {"source": args.heldout, "pairs": len(real)},
    }
    write_json_atomic(out / "benchmark.json", report)
    show(report)


def show(report: dict) -> None:
    table = Table(title="Humpback iteration: counts and time per round")
    for col in (
        "step",
        "scored by",
        "kept / candidates",
        "mean score",
        "trained on (seed + pairs)",
        "train loss",
        "val loss",
        "seconds",
    ):
        table.add_column(col, justify="left" if col in ("step", "scored by") else "right")
    for step, seconds in report["seconds"].items():
        detail = (
            f"{report['candidates']['kept']} pairs from {report['passages']} passages" if step == "generate" else ""
        )
        table.add_row(step, "-", detail or "-", "-", "-", "-", "-", f"{seconds:.0f}")
    for r in report["rounds"]:
        c, t = r["counts"], r["training"]
        table.add_row(
            f"round {r['round']}",
            "-" if r["round"] == 0 else f"M{r['round'] - 1}",
            f"{c['kept']} / {c['candidates']}" if "kept" in c else "-",
            f"{r['scores']['mean']:.3f}" if r.get("scores") else "-",
            f"{c['train_pairs']['seed']} + {c['train_pairs']['generated']}",
            f"{t['train_loss']:.3f}",
            "-" if t["val_loss"] is None else f"{t['val_loss']:.3f}",
            f"{r['seconds']['curate'] + r['seconds']['finetune']:.0f}",
        )
    f = report["final"]
    overlap = f["kept_overlap_with_last_round"]
    table.add_row(
        "final curation",
        f"M{len(report['rounds']) - 1}",
        f"{f['kept']} / {f['kept'] + f['rejected']}",
        f"{f['mean_score']:.3f}",
        "-",
        "-",
        "-",
        f"{f['seconds']:.0f}",
    )
    console.print(table)
    if overlap is not None:
        console.print(f"kept pairs shared by round 1 and the final curation (Jaccard): {overlap}")
    auc = Table(
        title=f"curation ROC-AUC on {report['heldout']['pairs']} held-out pairs vs shuffled (likelihood scorer)"
    )
    for col in ("forward model", "ROC-AUC", "mean real", "mean shuffled", "s / 100 pairs"):
        auc.add_column(col, justify="left" if col == "forward model" else "right")
    for label, m in report["auc"].items():
        auc.add_row(
            label, f"{m['auc']:.3f}", f"{m['mean_real']:.3f}", f"{m['mean_shuffled']:.3f}", f"{m['s_per_100']:.1f}"
        )
    console.print(auc)


if __name__ == "__main__":
    main()

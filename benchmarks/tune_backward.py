"""Which training and decoding settings make the best backward model? One row per setting.

    .venv/bin/python benchmarks/tune_backward.py --heldout ../shared/data/self-instruct-seed-tasks.jsonl \
        --row "epochs=1" --row "epochs=2,learning_rate=5e-4" [--zero-shot] [--out runs/tune]

Each --row trains the embedded default on the shipped seed with configs/cpu-demo.yaml plus the
row's TrainConfig overrides (and `greedy=false`, `temperature=...`, `max_new_tokens=...` for
decoding), then has the adapter write an instruction for every held-out response, and prints
ROUGE-L and cosine against the human instructions, side by side with zero-shot reverse prompting
of the base model (--zero-shot), with training time and losses.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from backtranslate.config import TrainConfig, field_types, resolve
from backtranslate.evaluate import DEFAULT_DECODING, evaluate
from backtranslate.train import train

ROOT = Path(__file__).resolve().parents[1]
DECODING_KEYS = {"greedy", "temperature", "top_p", "max_new_tokens"}


def parse_row(text: str) -> tuple[dict, dict]:
    """'epochs=2,learning_rate=5e-4,greedy=false' -> (train overrides, decoding overrides)."""
    types = field_types(TrainConfig)
    train_kw, decode_kw = {}, {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=", 1)
        if key in DECODING_KEYS:
            decode_kw[key] = value.lower() == "true" if key == "greedy" else type(getattr(DEFAULT_DECODING, key))(value)
        elif key in types:
            base = next((a for a in getattr(types[key], "__args__", ()) if a is not type(None)), types[key])
            train_kw[key] = value.lower() == "true" if base is bool else base(value)
        else:
            raise SystemExit(f"unknown setting {key}")
    return train_kw, decode_kw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heldout", required=True)
    parser.add_argument("--row", action="append", default=[], help="comma list of key=value overrides")
    parser.add_argument("--zero-shot", action="store_true", help="also score the base model, zero-shot")
    parser.add_argument("--config", default=str(ROOT / "configs" / "cpu-demo.yaml"))
    parser.add_argument("--out", default="runs/tune")
    args = parser.parse_args()

    table = Table(title=f"backward model on {args.heldout}")
    for col in ("setting", "train s", "train loss", "val loss", "ROUGE-L", "cosine", "eval s / 100"):
        table.add_column(col, justify="left" if col == "setting" else "right")
    if args.zero_shot:
        report = evaluate("default", args.heldout, baseline=None)
        m = report["metrics"]["model"]
        per100 = 100 * report["seconds"]["model"] / report["heldout"]["pairs"]
        table.add_row("zero-shot base", "-", "-", "-", f"{m['rouge_l']:.4f}", f"{m['cosine']:.4f}", f"{per100:.0f}")
    for i, row in enumerate(args.row):
        train_kw, decode_kw = parse_row(row)
        out = Path(args.out) / f"row{i}"
        cfg = resolve(TrainConfig, args.config, {**train_kw, "output_dir": str(out)})
        started = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - started
        report = evaluate(str(out), args.heldout, baseline=None, decoding=replace(DEFAULT_DECODING, **decode_kw))
        m = report["metrics"]["model"]
        per100 = 100 * report["seconds"]["model"] / report["heldout"]["pairs"]
        table.add_row(
            row,
            f"{seconds:.0f}",
            f"{result.train_loss:.3f}",
            "-" if result.val_loss is None else f"{result.val_loss:.3f}",
            f"{m['rouge_l']:.4f}",
            f"{m['cosine']:.4f}",
            f"{per100:.0f}",
        )
        Console().print(table)


if __name__ == "__main__":
    main()

"""Training throughput of the backward model: fp32 vs bf16 autocast, with and without
length-grouped batches, on the same seed pairs and the same number of optimizer steps.

    .venv/bin/python benchmarks/train_throughput.py [--model default] [--steps 12]

Tokens/s counts real (non-padding) tokens, so padding saved shows up as speed.
"""

from __future__ import annotations

import argparse
import tempfile

from rich.console import Console
from rich.table import Table

from backtranslate.config import TrainConfig
from backtranslate.hardware import cpu_supports_bf16
from backtranslate.readers.seed import load_seed
from backtranslate.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=384)
    args = parser.parse_args()

    seed = load_seed("default")
    runs = [("fp32", False), ("fp32", True)]
    if cpu_supports_bf16():
        runs += [("bf16", False), ("bf16", True)]
    rows = []
    for precision, grouped in runs:
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(
                model=args.model,
                output_dir=out,
                max_steps=args.steps,
                batch_size=args.batch_size,
                max_length=args.max_length,
                precision=precision,
                group_by_length=grouped,
                val_fraction=0.1,
                logging_steps=args.steps,
            )
            result = train(cfg, seed=seed)
        rows.append((precision, grouped, result))

    baseline = rows[0][2].tokens_per_second
    table = Table(title=f"train throughput: {args.model}, {args.steps} steps x batch {args.batch_size}")
    for col in ("precision", "length-grouped", "tokens/s", "vs fp32", "train loss", "val loss", "time s"):
        table.add_column(col, justify="right")
    for precision, grouped, r in rows:
        table.add_row(
            precision,
            "yes" if grouped else "no",
            f"{r.tokens_per_second:.1f}",
            f"{r.tokens_per_second / baseline:.2f}x",
            f"{r.train_loss:.3f}",
            f"{r.val_loss:.3f}",
            f"{r.runtime_s:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

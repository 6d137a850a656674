"""Training throughput of the backward model: fp32 vs bf16 autocast, with and without
length-grouped batches, and the LM head scoring every position (TRL's CPU default) vs only the
labelled ones (ours), on the same seed pairs and the same number of optimizer steps.

    .venv/bin/python benchmarks/train_throughput.py [--model default] [--steps 12] [--max-length 128]

Tokens/s counts real (non-padding) tokens, so padding saved shows up as speed.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import nullcontext
from unittest import mock

from rich.console import Console
from rich.table import Table

from backtranslate import train as train_module
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
    # (precision, length-grouped, labelled positions only); the first row is TRL's own CPU path
    runs = [("fp32", False, False), ("fp32", True, False), ("fp32", True, True)]
    if cpu_supports_bf16():
        runs += [("bf16", True, False), ("bf16", True, True)]
    rows = []
    for precision, grouped, labelled_only in runs:
        # TRL's default: every position scored (the hook replaced by a no-op)
        every_position = mock.patch.object(train_module, "score_labelled_positions_only", nullcontext)
        with tempfile.TemporaryDirectory() as out, nullcontext() if labelled_only else every_position:
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
        rows.append((precision, grouped, labelled_only, result))

    baseline = rows[0][3].tokens_per_second
    table = Table(title=f"train throughput: {args.model}, {args.steps} steps x batch {args.batch_size}")
    columns = (
        "precision",
        "length-grouped",
        "LM head scores",
        "tokens/s",
        "vs first",
        "train loss",
        "val loss",
        "time s",
    )
    for col in columns:
        table.add_column(col, justify="right")
    for precision, grouped, labelled_only, r in rows:
        table.add_row(
            precision,
            "yes" if grouped else "no",
            "labelled only" if labelled_only else "every position",
            f"{r.tokens_per_second:.1f}",
            f"{r.tokens_per_second / baseline:.2f}x",
            f"{r.train_loss:.3f}",
            f"{r.val_loss:.3f}",
            f"{r.runtime_s:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

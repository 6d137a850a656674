"""Training throughput of the backward model, one change at a time on the same seed pairs and the
same number of optimizer steps: fp32 vs bf16 autocast, length-grouped batches, the LM head scoring
every position (TRL's CPU default) vs only the labelled ones, LoRA dropout, and LoRA layers fused
into one matmul (backtranslate/fused_lora.py) vs peft's path, and LoRA on the top layers only
(--lora-layers: backward stops below them).

    .venv/bin/python benchmarks/train_throughput.py [--model default] [--steps 12] [--max-length 192]
    .venv/bin/python benchmarks/train_throughput.py --rows dropout nodropout fused   # the stop-28 rows

Tokens/s counts real (non-padding) tokens, so padding saved shows up as speed. Each row prints the
CPU class beside it; bf16 rows run only where the CPU has bf16.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack, nullcontext
from pathlib import Path
from unittest import mock

from rich.console import Console
from rich.table import Table

from backtranslate import fused_lora as fused_module
from backtranslate import train as train_module
from backtranslate.config import TrainConfig
from backtranslate.hardware import cpu_supports_bf16
from backtranslate.readers.seed import load_seed
from backtranslate.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_corpora import cpu_class  # noqa: E402  (the benchmarks' one description of the CPU)

# name: (precision, length-grouped, LM head on labelled positions only, LoRA dropout, fused LoRA,
# adapted layers: None for all, N for the top N)
ROWS = {
    "trl": ("fp32", False, False, 0.05, False, None),  # TRL's own CPU path
    "grouped": ("fp32", True, False, 0.05, False, None),
    "dropout": ("fp32", True, True, 0.05, False, None),  # stop 26-27's default
    "nodropout": ("fp32", True, True, 0.0, False, None),
    "fused": ("fp32", True, True, 0.0, True, None),  # the default since stop 28
    "top15": ("fp32", True, True, 0.0, True, 15),  # SmolLM2-135M has 30 layers
    "top10": ("fp32", True, True, 0.0, True, 10),
    "bf16": ("bf16", True, True, 0.0, False, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    args = parser.parse_args()

    seed = load_seed("default")
    rows = []
    for name in args.rows:
        precision, grouped, labelled_only, dropout, fused, layers = ROWS[name]
        if precision == "bf16" and not cpu_supports_bf16():
            continue
        with tempfile.TemporaryDirectory() as out, ExitStack() as stack:
            if not labelled_only:  # TRL's default: every position scored (the hook replaced by a no-op)
                stack.enter_context(mock.patch.object(train_module, "score_labelled_positions_only", nullcontext))
            if not fused:
                stack.enter_context(mock.patch.object(fused_module, "_adapter", lambda module: None))
            cfg = TrainConfig(
                model=args.model,
                output_dir=out,
                max_steps=args.steps,
                batch_size=args.batch_size,
                max_length=args.max_length,
                precision=precision,
                group_by_length=grouped,
                lora_dropout=dropout,
                lora_layers=layers,
                val_fraction=0.1,
                logging_steps=args.steps,
            )
            result = train(cfg, seed=seed)
        rows.append((name, result))

    baseline = rows[0][1].tokens_per_second
    title = f"train throughput: {args.model}, {args.steps} steps x batch {args.batch_size}, CPU {cpu_class()}"
    table = Table(title=title)
    columns = (
        "row",
        "precision",
        "length-grouped",
        "LM head scores",
        "LoRA dropout",
        "LoRA path",
        "layers",
        "tokens/s",
    )
    for col in columns + ("vs first", "train loss", "val loss", "time s"):
        table.add_column(col, justify="right")
    for name, r in rows:
        precision, grouped, labelled_only, dropout, fused, layers = ROWS[name]
        table.add_row(
            name,
            precision,
            "yes" if grouped else "no",
            "labelled only" if labelled_only else "every position",
            f"{dropout:g}",
            "fused" if fused else "peft",
            "all" if layers is None else f"top {layers}",
            f"{r.tokens_per_second:.1f}",
            f"{r.tokens_per_second / baseline:.2f}x",
            f"{r.train_loss:.3f}",
            f"{r.val_loss:.3f}",
            f"{r.runtime_s:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

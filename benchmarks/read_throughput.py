"""Reading + segmentation + passage filters on a synthetic corpus: passages/s and peak memory.

    .venv/bin/python benchmarks/read_throughput.py [--sizes 1000 10000] [--model default]

Each size runs in its own process so its peak resident memory is its own; a streaming reader
keeps the peak flat as the corpus grows.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the team will review budget meeting project customer report update schedule please "
    "thanks deadline analysis quarter plan release support request invoice design"
).split()


def make_corpus(folder: Path, n_docs: int) -> None:
    """Markdown documents (a few paragraphs, a heading) and one JSONL file, 10% of them."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)

    def paragraph() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 120))).capitalize() + "."

    n_jsonl = n_docs // 10
    with (folder / "rows.jsonl").open("w") as f:
        for i in range(n_jsonl):
            f.write(json.dumps({"id": f"row-{i}", "text": "\n\n".join(paragraph() for _ in range(3))}) + "\n")
    for i in range(n_docs - n_jsonl):
        sub = folder / f"part{i % 20:02d}"
        sub.mkdir(exist_ok=True)
        body = "\n\n".join(paragraph() for _ in range(rng.randint(1, 6)))
        (sub / f"doc{i:06d}.md").write_text(f"# Note {i}\n\n{body}\n")


def run_one(corpus: str, model: str) -> dict:
    from transformers import AutoTokenizer

    from backtranslate import models
    from backtranslate.filters import FilterStats, apply_filters, default_passage_filters
    from backtranslate.passages import TokenMeter, segment_all
    from backtranslate.readers.corpus import ReadStats, read_corpus

    meter = TokenMeter(AutoTokenizer.from_pretrained(models.resolve(model)))
    stats = ReadStats()
    started = time.perf_counter()
    passages = segment_all(read_corpus(corpus, stats=stats), meter, 24, 384)
    kept = sum(1 for _ in apply_filters(passages, default_passage_filters(), FilterStats()))
    seconds = time.perf_counter() - started
    return {
        "documents": stats.documents,
        "passages": kept,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--model", default="default")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.model)))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"read + segment + passage filters (tokenizer: {args.model})")
    for col in ("documents", "passages kept", "seconds", "passages/s", "peak RSS MB"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            corpus = Path(tmp) / f"c{n}"
            make_corpus(corpus, n)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(corpus), "--model", args.model],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            table.add_row(
                str(r["documents"]),
                str(r["passages"]),
                f"{r['seconds']:.1f}",
                f"{r['passages'] / r['seconds']:.0f}",
                f"{r['peak_rss_mb']:.0f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()

"""Segmentation of one huge single-line document (the worst case of `passages.py`: a long line is
cut into sentences, which are then packed back into passages).

Reads, segments and runs the passage filters over a file of ``--mb`` megabytes of short
sentences on one line, with the embedded model's tokenizer, and prints the passages, a hash of
their text and offsets, and the seconds. ``--root`` runs the code of another checkout (an older
commit), so two versions can be timed side by side and their passages compared:

    git worktree add /tmp/old 27d38e6
    python benchmarks/huge_line.py --root /tmp/old && python benchmarks/huge_line.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=5.0, help="Size of the single line in MB.")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="Checkout whose code runs.")
    parser.add_argument("--model", default="default", help="Whose tokenizer counts tokens.")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    import backtranslate
    from backtranslate.models import load_tokenizer
    from backtranslate.passages import TokenMeter, segment_all

    try:  # the layout moved these modules; either checkout works
        from backtranslate.filters import FilterStats, apply_filters, default_passage_filters
        from backtranslate.readers.corpus import read_corpus
    except ImportError:
        from backtranslate.corpus import read_corpus
        from backtranslate.filters import FilterStats, apply_filters, default_passage_filters

    meter = TokenMeter(load_tokenizer(args.model))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "lorem.txt").write_text("Lorem ipsum dolor sit amet. " * int(args.mb * 1024 * 1024 / 28))
        started = time.perf_counter()
        digest, count = hashlib.sha256(), 0
        for p in segment_all(read_corpus(folder), meter, 24, 384):
            digest.update(json.dumps([p.meta.get("start"), p.meta.get("end"), p.output]).encode())
            count += 1
        segmented = time.perf_counter() - started
        kept = sum(
            1
            for _ in apply_filters(
                segment_all(read_corpus(folder), meter, 24, 384), default_passage_filters(), FilterStats()
            )
        )
    print(
        json.dumps(
            {
                "code": str(Path(backtranslate.__file__).parents[1]),
                "mb": args.mb,
                "passages": count,
                "kept_after_filters": kept,
                "passages_sha256": digest.hexdigest()[:16],
                "segment_seconds": round(segmented, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

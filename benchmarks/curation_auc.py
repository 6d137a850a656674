"""Do the curation scores separate real pairs from mismatched ones?

    .venv/bin/python benchmarks/curation_auc.py [--pairs 60] [--model default] [--seed-file PATH]

Takes real (instruction, response) pairs, makes mismatched pairs by shuffling the instructions
among them (a derangement: no pair keeps its own), scores both sets with each scorer, and prints
ROC-AUC (1.0 = every real pair scores above every mismatched one, 0.5 = chance) and time per
100 pairs. The rubric scorer's unparseable answers count as the lowest score.
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table

from backtranslate.curate import SCORERS
from backtranslate.metrics import roc_auc
from backtranslate.readers.seed import load_seed
from backtranslate.records import Record


def real_pairs(seed_file: str, pairs: int, rng_seed: int = 0) -> list[Record]:
    """Up to ``pairs`` real pairs without an input, in a seeded random order."""
    real = [r for r in load_seed(seed_file).records if not r.input]
    random.Random(rng_seed).shuffle(real)
    return real[:pairs]


def mismatched(real: list[Record]) -> list[Record]:
    """A derangement: every response gets another pair's instruction."""
    shifted = real[1:] + real[:1]
    return [Record(instruction=other.instruction, output=r.output) for r, other in zip(real, shifted)]


def measure(scorer, real: list[Record], fake: list[Record]) -> dict:
    """ROC-AUC of the scorer's scores, real vs mismatched; unparsed scores count as the lowest."""
    started = time.perf_counter()
    pos = [p.score for p in scorer.score(real)]
    neg = [p.score for p in scorer.score(fake)]
    seconds = time.perf_counter() - started
    unparsed = sum(s is None for s in pos + neg)
    low = min([s for s in pos + neg if s is not None], default=0) - 1
    pos = [low if s is None else s for s in pos]
    neg = [low if s is None else s for s in neg]
    return {
        "auc": roc_auc(pos, neg),
        "mean_real": sum(pos) / len(pos),
        "mean_shuffled": sum(neg) / len(neg),
        "unparsed": unparsed,
        "s_per_100": 100 * seconds / (len(pos) + len(neg)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed-file", default="default", help="real pairs: 'default' (the shipped seed) or a file")
    parser.add_argument("--scorers", default="likelihood,rubric")
    args = parser.parse_args()

    real = real_pairs(args.seed_file, args.pairs)
    fake = mismatched(real)
    table = Table(
        title=f"curation ROC-AUC: {len(real)} real vs {len(fake)} shuffled pairs, judge/forward model {args.model}"
    )
    for col in ("scorer", "ROC-AUC", "mean real", "mean shuffled", "unparsed", "s / 100 pairs"):
        table.add_column(col, justify="right")
    for name in args.scorers.split(","):
        m = measure(SCORERS[name](args.model), real, fake)
        table.add_row(
            name,
            f"{m['auc']:.3f}",
            f"{m['mean_real']:.3f}",
            f"{m['mean_shuffled']:.3f}",
            str(m["unparsed"]),
            f"{m['s_per_100']:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

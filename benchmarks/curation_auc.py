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
from backtranslate.records import Record
from backtranslate.seed import load_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed-file", default="default", help="real pairs: 'default' (the shipped seed) or a file")
    parser.add_argument("--scorers", default="likelihood,rubric")
    args = parser.parse_args()

    rng = random.Random(0)
    real = [r for r in load_seed(args.seed_file).records if not r.input]
    rng.shuffle(real)
    real = real[:args.pairs]
    shifted = real[1:] + real[:1]  # a derangement: every response gets another pair's instruction
    fake = [Record(instruction=other.instruction, output=r.output) for r, other in zip(real, shifted)]

    table = Table(title=f"curation ROC-AUC: {len(real)} real vs {len(fake)} shuffled pairs, judge/forward model {args.model}")
    for col in ("scorer", "ROC-AUC", "mean real", "mean shuffled", "unparsed", "s / 100 pairs"):
        table.add_column(col, justify="right")
    for name in args.scorers.split(","):
        scorer = SCORERS[name](args.model)
        started = time.perf_counter()
        pos = [p.score for p in scorer.score(real)]
        neg = [p.score for p in scorer.score(fake)]
        seconds = time.perf_counter() - started
        unparsed = sum(s is None for s in pos + neg)
        low = min([s for s in pos + neg if s is not None], default=0) - 1
        pos = [low if s is None else s for s in pos]
        neg = [low if s is None else s for s in neg]
        table.add_row(name, f"{roc_auc(pos, neg):.3f}", f"{sum(pos) / len(pos):.3f}", f"{sum(neg) / len(neg):.3f}",
                      str(unparsed), f"{100 * seconds / (len(pos) + len(neg)):.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()

"""Stage: best of K. Of the candidates a passage got that passed the pair filters, keep the one
with the best relevance score; the others stay in candidates.jsonl and go to the rejects with the
winner named.

Sampling K instructions costs one prefill and K short decodes (decoder.py copies the prompt's
cache to each candidate), and the best of several recovers passages whose first candidate
pointed at text the pair does not have or named the wrong genre (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from ..records import Record
from . import Filter, Verdict, register


@register
class BestOfK(Filter):
    """Per passage, the candidate with the highest ``meta[score]``; ties go to the earlier one."""

    name = "best_of_k"

    def __init__(self, score: str = "relevance"):
        self.score = score

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        # Candidates arrive passage by passage (the engines yield them in order), so a group is
        # one passage's surviving candidates and nothing is held longer than that.
        for _, group in itertools.groupby(records, key=lambda r: r.meta.get("passage_id") or r.id):
            candidates = list(group)
            best = max(candidates, key=lambda r: (r.meta.get(self.score, float("-inf")), -r.meta.get("candidate", 0)))
            for r in candidates:
                if r is best:
                    yield r, True
                else:
                    yield (
                        r,
                        (
                            False,
                            f"candidate {best.meta.get('candidate', 0)} of this passage scored higher "
                            f"({best.meta.get(self.score)} > {r.meta.get(self.score)})",
                        ),
                    )

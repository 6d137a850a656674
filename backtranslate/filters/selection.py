"""Stage: best of K. Of the candidates a passage got that passed the pair filters, keep the one
with the best relevance score; the others stay in candidates.jsonl and go to the rejects with the
winner named.

Sampling K instructions costs one prefill and K short decodes (decoder.py copies the prompt's
cache to each candidate), and the best of several recovers passages whose first candidate
pointed at text the pair does not have or named the wrong genre (benchmarks/RESULTS.md).

With --balance, the candidates within ``margin`` of the best score are near-ties, and of those
the one whose task type is furthest under the target mix so far is kept (tasktypes.Balance says
why this way round, and how a resumed run makes the same choices).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Optional

from ..records import Record
from ..tasktypes import DEFAULT_MARGIN, Balance, parse_target
from . import Filter, Verdict, register


@register
class BestOfK(Filter):
    """Per passage, the candidate with the highest ``meta[score]``; ties go to the earlier one."""

    # ``balance`` ('uniform' or shares such as 'write=0.3,answer=0.2') steers near-ties toward a
    # task mix (--balance; tasktypes.Balance).

    name = "best_of_k"

    def __init__(self, score: str = "relevance", balance: Optional[str] = None, margin: float = DEFAULT_MARGIN):
        self.score, self.balance, self.margin = score, balance, margin
        self.balancer = Balance(parse_target(balance)) if balance else None

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        # Candidates arrive passage by passage (the engines yield them in order), so a group is
        # one passage's surviving candidates and nothing is held longer than that.
        for _, group in itertools.groupby(records, key=lambda r: r.meta.get("passage_id") or r.id):
            candidates = list(group)
            best = max(candidates, key=lambda r: (r.meta.get(self.score, float("-inf")), -r.meta.get("candidate", 0)))
            chosen = self.balancer.choose(candidates, best, self.score, self.margin) if self.balancer else best
            for r in candidates:
                if r is chosen:
                    yield r, True
                elif chosen is best:
                    yield (
                        r,
                        (
                            False,
                            f"candidate {best.meta.get('candidate', 0)} of this passage scored higher "
                            f"({best.meta.get(self.score)} > {r.meta.get(self.score)})",
                        ),
                    )
                else:
                    yield r, (False, self._balanced_reason(chosen, best))

    def _balanced_reason(self, chosen: Record, best: Record) -> str:
        score = chosen.meta.get(self.score)
        return (
            f"--balance kept candidate {chosen.meta.get('candidate', 0)}, a '{chosen.meta['task_type']}' task "
            f"(further under the target mix), within {self.margin} of the best score "
            f"({score} vs {best.meta.get(self.score)})"
        )

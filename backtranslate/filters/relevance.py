"""Stage: does the instruction ask for what the passage is? A relevance score for every pair.

Most pairs a blind reader rejected on real corpora were mismatches: a good passage under an
instruction of the wrong genre or topic ("Write a short email to ..." over a documentation
section). A relevance score catches them cheaply, and ranks the K candidates of a passage
(best of K, selection.py).

Two scorers, both offline with what the package installs:
- ``embedding``: cosine of all-MiniLM-L6-v2 embeddings of the instruction and the passage;
- ``likelihood``: how much the instruction helps the embedded base model predict the passage
  (mean log p(passage | instruction) - mean log p(passage), nats per token; curate.py).
Their ROC-AUC on matched vs mismatched pairs from real corpora, and the default threshold, are
measured by benchmarks/real_corpora.py (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from ..records import Record
from . import Filter, Verdict, register

# The embedding model reads 256 word pieces; a passage's opening says what it is about.
_PASSAGE_CHARS = 1500
DEFAULT_SCORER = "embedding"
# Calibrated on real mail, docs and web pages (benchmarks/real_corpora.py --calibrate, RESULTS.md):
# 0.28 is where matched pairs best separate from the same instructions on other passages of the
# same corpus (ROC-AUC 0.90; precision 0.84, recall 0.84). The likelihood gain's 0 (the instruction
# does not help at all) is a natural line, not a calibrated one: scoring costs ~2 s a pair on CPU.
DEFAULT_THRESHOLD = {"embedding": 0.28, "likelihood": 0.0}


class EmbeddingRelevance:
    """Cosine of the instruction's and the passage's all-MiniLM-L6-v2 embeddings, in [-1, 1]; for
    a pair with an input (a reply and the message it answers), the higher of its cosines with the
    passage and with the input."""

    # A reply's instruction names the message it answers ("Reply to the xfs_reinit_inode() patch
    # below."), not what the reply says. Scored against the reply alone such pairs fell under the
    # threshold, and the blind readers called 33-40 of the 41 they read of them usable, more than
    # the replies kept (stop 31, RESULTS).

    name = "embedding"

    def __init__(self, batch_size: int = 64) -> None:
        from ..metrics import default_embedder

        self.embedder, self.batch_size = default_embedder(), batch_size
        self._passages: dict[str, Any] = {}  # passage id -> embedding: K candidates share one

    def score(self, records: list[Record]) -> list[float]:
        missing = {}
        for r in records:
            key = _passage_key(r)
            if key not in self._passages:
                missing[(key, "output")] = r.output[:_PASSAGE_CHARS]
                if r.input:
                    missing[(key, "input")] = r.input[:_PASSAGE_CHARS]
                self._passages[key] = {}
        if missing:
            for (key, part), vector in zip(missing, self.embedder.embed(list(missing.values()))):
                self._passages[key][part] = vector
        instructions = self.embedder.embed([r.instruction for r in records])
        scores = [
            max(float(v @ u) for u in self._passages[_passage_key(r)].values()) if r.instruction.strip() else 0.0
            for r, v in zip(records, instructions)
        ]
        if len(self._passages) > 4096:  # candidates arrive passage by passage: old ones never return
            self._passages.clear()
        return scores


class LikelihoodRelevance:
    """The forward model's instruction-following gain (curate.LikelihoodScorer), in nats/token."""

    name = "likelihood"

    def __init__(self, model: str = "default", batch_size: int = 8) -> None:
        from ..curate import LikelihoodScorer

        self.scorer, self.batch_size = LikelihoodScorer(model, batch_size=batch_size), batch_size

    def score(self, records: list[Record]) -> list[float]:
        return [pair.score if pair.score is not None else float("-inf") for pair in self.scorer.score(records)]


SCORERS = {"embedding": EmbeddingRelevance, "likelihood": LikelihoodRelevance}


def _passage_key(record: Record) -> str:
    return record.meta.get("passage_id") or record.id


def load_scorer(name: str) -> Any:
    from ..errors import UserError

    if name not in SCORERS:
        raise UserError(f"Unknown relevance scorer '{name}': choose one of {', '.join(SCORERS)}.")
    return SCORERS[name]()


@register
class Relevance(Filter):
    """Scores every pair (``meta["relevance"]``) and drops those below the threshold."""

    name = "relevance"
    version = 2  # v2: a pair with an input (a reply) is scored against its input too

    def __init__(self, scorer: str = DEFAULT_SCORER, threshold: Optional[float] = None, batch_size: int = 64) -> None:
        self.scorer = scorer
        self.threshold = DEFAULT_THRESHOLD[scorer] if threshold is None else threshold
        self.batch_size = batch_size
        self._scorer: Any = None

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        if self._scorer is None:
            self._scorer = load_scorer(self.scorer)
        it = iter(records)
        while batch := list(itertools.islice(it, self.batch_size)):
            for record, score in zip(batch, self._scorer.score(batch)):
                record.meta["relevance"] = round(score, 4)
                if score < self.threshold:
                    yield record, (False, f"{self.scorer} score {score:.3f} < {self.threshold}")
                else:
                    yield record, True

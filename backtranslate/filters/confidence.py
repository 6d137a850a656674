"""Stage: how sure was the backward model of the instruction it wrote? The ``confidence`` filter.

The blind reads of real corpora found that most failing kept pairs are mismatches: an instruction
of the wrong genre, addressee or detail for a good passage. The scorers that read the pair from
outside tell them apart barely or not at all (ROC-AUC, usable vs mismatch, 279 judged pairs:
the embedding cosine 0.645, the base model's likelihood gain 0.532, the instruct model asked
"does the response do what the request asks?" 0.471). The backward model itself does better:
where it hesitated, or where the passage hardly made its instruction likelier than no passage
at all, the instruction tends to be made up. On 214 judged pairs of the demo's adapter:

- ``given``: mean log p(instruction | the prompt with its passage), ROC-AUC 0.684;
- ``gain``: ``given`` minus the mean log p(instruction | the prompt with an empty passage), 0.693;
- the score ``given + 0.3 * gain``: 0.744 (benchmarks/RESULTS.md).

On fresh text (78 kept pairs of a third split of the same sources, read blind after the weight
and threshold were chosen) it fell to 0.576, about the embedding's 0.595 there: a weak ranking.
Its threshold still dropped mostly mismatches (11 of 13), so it is an option, off by default.

Scoring is one forward pass per pair on the run's own backward model, through any backend that
gives log-probabilities (transformers, vllm, openai).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from ..records import Record
from . import Filter, Verdict, register

# The bottom quarter of the 214 judged pairs of `make demo`'s adapter on real mail, docs and web;
# 16% of them were judged usable, 54% of those above (benchmarks/RESULTS.md). A larger backward
# model is surer of everything: recalibrate with benchmarks/judged_pairs.py, or lower it.
DEFAULT_THRESHOLD = -0.6
GAIN_WEIGHT = 0.3


@register
class Confidence(Filter):
    """Scores every pair by the backward model's certainty (``meta["confidence"]``); drops those below the threshold."""

    name = "confidence"

    def __init__(
        self,
        threshold: Optional[float] = DEFAULT_THRESHOLD,
        gain_weight: float = GAIN_WEIGHT,
        batch_size: int = 64,
        model: Any = None,
    ) -> None:
        self.threshold, self.gain_weight, self.batch_size = threshold, gain_weight, batch_size
        self.model = model  # the run's BackwardModel; the filter scores with it, never loads its own
        self._empty: Optional[list[int]] = None  # the prompt without a passage, tokenized once

    def describe(self) -> dict[str, Any]:
        # The settings a dataset records; the model is the run's own, recorded by the run.
        return {
            "name": self.name,
            "version": self.version,
            "threshold": self.threshold,
            "gain_weight": self.gain_weight,
        }

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        it = iter(records)
        while batch := list(itertools.islice(it, self.batch_size)):
            for record, (given, without) in zip(batch, self.logprobs(batch)):
                score = given + self.gain_weight * (given - without)
                record.meta["confidence"] = round(score, 4)
                if self.threshold is not None and score < self.threshold:
                    detail = f"score {score:.3f} < {self.threshold} (log p {given:.2f} with the passage, {without:.2f} without)"
                    yield record, (False, detail)
                else:
                    yield record, True

    def logprobs(self, records: list[Record]) -> list[tuple[float, float]]:
        """(mean log p of the instruction with its passage, without one) for each record."""
        from ..inference.base import scoring

        if self.model is None:
            raise RuntimeError("the confidence filter scores with the run's backward model: none was given")
        engine = scoring(self.model.engine)
        if self._empty is None:
            self._empty = self._ids(self.model.prompt(Record(output="")))
        empty = self._empty
        targets = [self._ids(r.instruction.strip() or " ") for r in records]
        # The instruction holds its primer (--prime), so it is scored after the unprimed prompt.
        prompts = [
            self._ids(self.model.prompt(Record(output=r.output, input=r.input, meta=r.meta), primed=False))
            for r in records
        ]
        # Two calls: rows are padded to the longest in a call, and a prompt without its passage is
        # a sixth of the length of one with it.
        given = _by_length(engine, [p + t for p, t in zip(prompts, targets)], [len(p) for p in prompts])
        without = _by_length(engine, [empty + t for t in targets], [len(empty)] * len(targets))
        mean = lambda lp: sum(lp) / len(lp) if lp else 0.0  # noqa: E731
        return [(mean(a), mean(b)) for a, b in zip(given, without)]

    def _ids(self, text: str) -> list[int]:
        return self.model.tokenizer(text, add_special_tokens=False)["input_ids"]


def _by_length(engine: Any, sequences: list[list[int]], starts: list[int], rows: int = 8) -> list[list[float]]:
    """engine.logprobs in calls of ``rows`` sequences of similar length (a padded position costs
    as much as a real one), answered in the order asked."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out: list[list[float]] = [[] for _ in sequences]
    for k in range(0, len(order), rows):
        picked = order[k : k + rows]
        for i, lp in zip(picked, engine.logprobs([sequences[i] for i in picked], [starts[i] for i in picked])):
            out[i] = lp
    return out

"""Stage: self-curation. Score each (instruction, output) pair and keep those above a threshold.

Two scorers, as in Humpback and the instruction-following-difficulty (IFD) line of work:
- ``rubric``: an instruct model (the judge) rates the pair on Humpback's 5-point quality scale;
  the score is parsed from its answer, and answers with no score are counted, not guessed.
- ``likelihood``: how much the instruction helps a forward model predict the output,
  mean log p(output | instruction) - mean log p(output), in nats per token. Cheap, and useful
  even with small models: a mismatched instruction does not help.

Pairs are kept at or above a threshold, or in the best ``top_fraction`` (Humpback keeps the
pairs rated 5; a fraction works for any scorer's scale).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import models
from .filters import Filter, FilterStats, Verdict, register
from .readers.seed import load_pairs
from .records import Record
from .templates import get_template

RUBRIC = """Below is an instruction from a user and a candidate answer. Evaluate whether or not the answer is a good example of how an AI assistant should respond to the instruction. Rate it on this 5-point scale:
1: The answer is incomplete, vague, off-topic, controversial, or not what the user asked for; content may be missing or in the wrong order.
2: The answer addresses most of the request but not directly; it may only outline a method instead of doing the task.
3: The answer is helpful and covers the basic request, but it reads like another person's writing (a blog post, web page or search result) rather than an assistant's reply.
4: The answer is written as an assistant's reply, focused on the instruction, complete, clear and well organised; it could be a little more concise or focused.
5: The answer is a perfect reply from an AI assistant: focused, helpful, expert, well written, with nothing irrelevant.

Instruction: {instruction}

Answer: {output}

Give a brief reason, then write "Score: <rating>" on the last line."""

_SCORE_PATTERNS = (
    re.compile(r"score\W{0,4}\s*([1-5])(?:\s*/\s*5)?\b", re.IGNORECASE),
    re.compile(r"\b([1-5])\s*/\s*5\b"),
    re.compile(r"(?:rating|rate it|rated)\W{0,4}\s*([1-5])\b", re.IGNORECASE),
    re.compile(r"^\W*([1-5])\W*$"),
)


def parse_score(answer: str) -> Optional[int]:
    """The 1-5 score in a judge's answer ("Score: 4", "**Score:** 4/5", "Rating: 3", "5"), the
    last one when there are several; None when there is none."""
    for pattern in _SCORE_PATTERNS:
        found = pattern.findall(answer.strip())
        if found:
            return int(found[-1])
    return None


def _batches(records: list[Record], size: int, desc: str) -> Iterator[list[Record]]:
    """Batches of ``records`` with a progress bar: scoring a big dataset takes a while. A single
    batch gets no bar: callers that feed batch by batch (the Curation filter) show their own."""
    from tqdm.auto import tqdm

    with tqdm(total=len(records), desc=desc, unit="pair", disable=len(records) <= size) as bar:
        for i in range(0, len(records), size):
            yield records[i : i + size]
            bar.update(min(size, len(records) - i))


@dataclass
class ScoredPair:
    record: Record
    score: Optional[float]
    detail: str = ""


class LikelihoodScorer:
    """Instruction-following gain of a forward model, on any backend that reads log-probabilities
    (transformers and vllm in this process, or a server: --backend openai)."""

    name = "likelihood"

    def __init__(
        self,
        model: str = "default",
        max_tokens: int = 256,
        batch_size: int = 8,
        precision: str = "fp32",
        backend: str = "transformers",
        **options: Any,
    ) -> None:
        from .inference import BackwardSpec
        from .inference.base import entry, scoring

        # Log-probabilities in fp32 wherever this process computes them: the score is a small
        # difference of two (a server computes them as it was started).
        del precision
        self.engine = scoring(entry(backend).cls(BackwardSpec.resolve(model), "fp32", **options))
        self.tokenizer = self.engine.tokenizer
        self.template = get_template("alpaca")
        # A forward model fine-tuned with Humpback's tags is asked in the assistant's style, as at inference.
        self.system = models.read_manifest(model).get("system") if models.is_adapter(model) else None
        self.max_tokens, self.batch_size = max_tokens, batch_size

    def _mean_logprob(self, prefixes: list[str], outputs: list[str]) -> list[float]:
        """Mean log p(output tokens | prefix), one backend call per batch."""
        tok = self.tokenizer
        sequences, starts = [], []
        for prefix, output in zip(prefixes, outputs):
            p = tok(prefix, add_special_tokens=False)["input_ids"] if prefix else []
            o = tok(output, add_special_tokens=False)["input_ids"][: self.max_tokens]
            if not p:  # an unconditional score still needs one token to predict the first from
                p = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
            sequences.append(p + o)
            starts.append(len(p))
        return [sum(lp) / len(lp) if lp else 0.0 for lp in self.engine.logprobs(sequences, starts)]

    def score(self, records: list[Record]) -> list[ScoredPair]:
        scored = []
        meta = {"system": self.system} if self.system else {}
        for batch in _batches(records, self.batch_size, "curate: likelihood"):
            prompts = [
                self.template.prompt(
                    Record(output=r.output, instruction=r.instruction, input=r.input, id=r.id, meta=meta)
                )
                for r in batch
            ]
            outputs = [r.output for r in batch]
            conditional = self._mean_logprob(prompts, outputs)
            unconditional = self._mean_logprob(["" for _ in batch], outputs)
            for r, c, u in zip(batch, conditional, unconditional):
                scored.append(ScoredPair(r, round(c - u, 4), f"log p(out|instr) {c:.3f}, log p(out) {u:.3f}"))
        return scored


class RubricScorer:
    """Humpback's 5-point rating, asked of an instruct model through its chat template, on any
    registered inference backend (greedy, so the same pairs always get the same scores)."""

    name = "rubric"

    def __init__(
        self,
        judge: str = "default",
        max_new_tokens: int = 96,
        batch_size: int = 8,
        precision: str = "auto",
        backend: str = "transformers",
        **options: Any,
    ) -> None:
        from .inference import BackwardSpec
        from .inference.base import entry

        # The backend takes the resolved model (a finetune folder's adapter comes merged in) and
        # places it as every backend does (under torchrun, each rank on its own GPU).
        self.engine = entry(backend).cls(BackwardSpec.resolve(judge), precision, **options)
        self.tokenizer = self.engine.tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    @property
    def _chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _messages(self, r: Record) -> list[dict[str, str]]:
        instruction = f"{r.instruction}\n\n{r.input}" if r.input else r.instruction
        return [{"role": "user", "content": RUBRIC.format(instruction=instruction, output=r.output)}]

    def _prompt(self, r: Record) -> str:
        messages = self._messages(r)
        if self._chat:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return messages[0]["content"] + "\n\n"

    def score(self, records: list[Record]) -> list[ScoredPair]:
        from .inference import Decoding

        decoding = Decoding(greedy=True, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        scored = []
        for batch in _batches(records, self.batch_size, "curate: rubric judge"):
            ids = self.tokenizer([self._prompt(r) for r in batch], add_special_tokens=False)["input_ids"]
            messages = [self._messages(r) for r in batch] if self._chat else None
            done = self.engine.complete(ids, [r.id for r in batch], decoding, [], messages)
            for r, completions in zip(batch, done):
                answer = completions[0].decode(self.tokenizer, getattr(self.engine, "eos_ids", ()))
                scored.append(ScoredPair(r, parse_score(answer), answer.strip()[-300:]))
        return scored


SCORERS = {"likelihood": LikelihoodScorer, "rubric": RubricScorer}


@register
class Curation(Filter):
    """Self-curation: a scorer's score per pair in ``meta["scores"]``; drops those below the threshold."""

    # Scores in the scorer's batches; a pair without a parseable score is dropped too. The running
    # totals (scored, unparsed, score sum) are what a resumed run carries on from.

    name = "curate"  # the registry's name; each instance is named for its scorer (curate_likelihood)
    version = 1

    def __init__(self, scorer: Any, threshold: Optional[float] = None, totals: Optional[dict] = None) -> None:
        self.scorer, self.threshold = scorer, threshold
        self.name = f"curate_{scorer.name}"
        self.totals = {"scored": 0, "unparsed": 0, "score_sum": 0.0, **(totals or {})}

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        batch_size = getattr(self.scorer, "batch_size", 8)
        it = iter(records)
        while batch := list(itertools.islice(it, batch_size)):
            for pair in self.scorer.score(batch):
                yield pair.record, self._verdict(pair)

    def _verdict(self, pair: ScoredPair) -> Verdict:
        r = pair.record
        r.meta.setdefault("scores", {})[self.scorer.name] = pair.score
        r.meta.setdefault("score_details", {})[self.scorer.name] = pair.detail
        self.totals["scored"] += 1
        if pair.score is None:
            self.totals["unparsed"] += 1
            return False, "no score in the judge's answer"
        self.totals["score_sum"] += pair.score
        if self.threshold is not None and pair.score < self.threshold:
            return False, f"score {pair.score} < {self.threshold}"
        return True

    def summary(self) -> dict[str, Any]:
        t = self.totals
        parsed = t["scored"] - t["unparsed"]
        return {
            "scorer": self.scorer.name,
            "threshold": self.threshold,
            "scored": t["scored"],
            "unparsed": t["unparsed"],
            "mean_score": round(t["score_sum"] / parsed, 4) if parsed else None,
        }

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "threshold": self.threshold}


def cutoff(scores: list[float], threshold: Optional[float], top_fraction: Optional[float]) -> Optional[float]:
    """The lowest score kept: ``threshold``, raised to the score of the best ``top_fraction`` of
    pairs when one is given (ties at the cut are all kept)."""
    cut = threshold
    if top_fraction is not None and scores:
        k = max(1, math.ceil(top_fraction * len(scores)))
        at_k = sorted(scores, reverse=True)[k - 1]
        cut = at_k if cut is None else max(cut, at_k)
    return cut


def curate(
    records: Iterable[Record], scorer: Any, threshold: Optional[float] = None, top_fraction: Optional[float] = None
) -> tuple[list[Record], list[Record], dict]:
    """Score every pair into ``meta["scores"][scorer.name]``; keep those at or above the cutoff
    (see :func:`cutoff`). Unscored pairs (a rubric answer without a score) are rejected and counted.
    A top fraction needs every score first, so this one holds the records in memory."""
    from tqdm.auto import tqdm

    curation, rejected, records = Curation(scorer), [], list(records)
    with tqdm(total=len(records), desc=f"curate: {scorer.name}", unit="pair") as bar:
        scored = []
        for r in curation(records, FilterStats(), on_reject=rejected.append):  # drops only the unscored
            scored.append(r)
            bar.update(len(scored) + len(rejected) - bar.n)
    cut = cutoff([r.meta["scores"][scorer.name] for r in scored], threshold, top_fraction)
    kept = []
    for r in scored:
        score = r.meta["scores"][scorer.name]
        if cut is not None and score < cut:
            r.meta.update(reject_reason=f"{curation.name}: score {score} < {cut}", rejected_by=curation.name)
            rejected.append(r)
        else:
            kept.append(r)
    summary = curation.summary()
    stats = {
        "scorer": scorer.name,
        "threshold": threshold,
        "top_fraction": top_fraction,
        "cutoff": cut,
        "pairs": summary["scored"],
        "kept": len(kept),
        "rejected": len(rejected),
        "unparsed": summary["unparsed"],
        "mean_score": summary["mean_score"],
    }
    return kept, rejected, stats


def write_curated(
    target: Path, kept: list[Record], rejected: list[Record], stats: dict, formats: list[str] | None = None
) -> None:
    """The curated dataset folder: data.json, data.jsonl (scores in meta), rejected.jsonl (with
    reasons), stats.json and a dataset card."""
    from .dataset import write_folder

    kept_how = f"score >= {stats['cutoff']}" if stats["cutoff"] is not None else "every scored pair"
    paragraph = (
        f"Self-curated from `{stats.get('dataset', '?')}` with the `{stats['scorer']}` scorer "
        f"(model `{stats.get('model', '?')}`): {len(kept)} of {stats['pairs']} pairs kept ({kept_how}); "
        f"mean score {stats['mean_score']}. `data.jsonl` carries each pair's score in `meta.scores`; "
        "`rejected.jsonl` lists the rest with their reason."
    )
    card = {
        "title": "Curated instruction dataset",
        "paragraphs": [paragraph],
        "tags": ("instruction-backtranslation", "alpaca", "curated"),
    }
    write_folder(target, kept, stats, card, rejected=rejected, stage="curate", formats=formats or [])


def curate_dataset(
    dataset: str,
    out: str,
    scorer_name: str = "likelihood",
    model: str = "default",
    threshold: Optional[float] = None,
    top_fraction: Optional[float] = None,
    formats: list[str] | None = None,
    precision: str = "auto",
    backend: str = "transformers",
    backend_options: dict[str, Any] | None = None,
) -> dict:
    """Score a dataset and write the curated copy (see :func:`write_curated`). Either scorer runs
    on ``backend`` with its ``backend_options``."""
    from .dataset import read_card_terms
    from .errors import UserError

    if scorer_name not in SCORERS:
        raise UserError(f"Unknown scorer '{scorer_name}': choose {' or '.join(SCORERS)}.")
    if top_fraction is not None and not 0 < top_fraction <= 1:
        raise UserError(f"--top-fraction must be in (0, 1], got {top_fraction}.")
    records = load_pairs(dataset).records
    scorer = SCORERS[scorer_name](model, precision=precision, backend=backend, **(backend_options or {}))
    kept, rejected, stats = curate(records, scorer, threshold, top_fraction)
    license, language = read_card_terms(dataset)
    stats.update(dataset=dataset, model=model, license=license, language=language)
    write_curated(Path(out), kept, rejected, stats, formats or [])
    return stats

"""Stage: rewrite each kept pair's output into an assistant's answer to its instruction, and keep
the rewrite only where it stays faithful to the passage.

Instruction back-and-forth translation (Nguyen et al. 2024) and COIG-Kun rewrite the raw passage
with an aligned model, given the generated instruction, and report better fine-tunes than with
Humpback's raw-text outputs. A rewriting model can also invent: a date, a name, a figure, a
sentence the passage never said. So every rewrite is checked against its passage, claim by
claim (``Faithfulness``), and a rewrite with an unsupported claim is not kept: the pair keeps the
original passage as its output, with the reason in its provenance.

What a pair keeps in ``meta["rewrite"]``: the rewrite, the original passage, the check's score
and verdict, and the unsupported claims (``REWRITE_KEY``; formats.py builds preference pairs of
rewrite vs passage from it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from .filters import Filter, Verdict, register
from .records import Record

REWRITE_KEY = "rewrite"  # meta[REWRITE_KEY] = {"text", "original", "score", "kept", "reason", ...}

PROMPT = """Rewrite the passage below as an AI assistant's answer to the instruction. Use only what the passage says: do not add names, numbers, dates, places or claims that are not in it. Write the answer only, without mentioning the passage.

Instruction: {instruction}

Passage:
{passage}"""

# ----------------------------------------------------------------------------------- faithfulness

_SENTENCE = re.compile(r"(?<=[.!?:])\s+(?=[\"'(\[]?[A-Z0-9<*#-])|\n+")
# Specific facts a rewrite must not invent: numbers (dates, amounts, versions, times), placeholders
# left by redaction, addresses, and capitalised words inside a sentence (names of people, places,
# products). Each must occur in the passage.
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
_ADDRESS = re.compile(r"\b\S+@\S+\.\w+\b|https?://\S+")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:[-'][A-Za-z]+)?\b")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without)\b|n't\b", re.IGNORECASE)
# An assistant's framing ("Sure! Here is ...", "I hope this helps.") makes no claim about the passage.
_FRAMING = re.compile(
    r"^(?:sure|certainly|of course|absolutely|here(?: is|'s| are)|below is|i hope|let me know|hope this|"
    r"in summary|to summari[sz]e|in short|overall)\b",
    re.IGNORECASE,
)
# Words that start sentences or headings in capitals without naming anything.
_COMMON_CAPS = frozenset(
    "I The A An This That These Those It Its We You Your Our They Their He She His Her If When Then "
    "Please Note Also However For In On At To From By With And But Or So As After Before Once "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
)
MIN_CLAIM_WORDS = 4  # shorter pieces ("Thanks,", "Step 2:") carry no checkable claim


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _specifics(sentence: str) -> set[str]:
    body = _ADDRESS.sub(" ", _PLACEHOLDER.sub(" ", sentence))
    found = set(_NUMBER.findall(body)) | set(_PLACEHOLDER.findall(sentence)) | set(_ADDRESS.findall(sentence))
    first = re.match(r"\W*\w+", body)  # a sentence's first word is capitalised anyway
    start = first.end() if first else 0
    found |= {m.group() for m in _NAME.finditer(body) if m.start() >= start and m.group() not in _COMMON_CAPS}
    return found


@dataclass
class Support:
    """The check's result for one rewrite: the share of its claims the passage supports."""

    score: float  # supported claims / claims (1.0 for a rewrite with no checkable claim)
    claims: int
    unsupported: list[str] = field(default_factory=list)  # "claim: why", at most a few


class Faithfulness:
    """Claim-level support of a rewrite by its passage.

    A rewrite is cut into sentences; each with at least MIN_CLAIM_WORDS words that is not an
    assistant's framing is a claim. A claim is supported when (1) every specific in it (number,
    redaction placeholder, address, capitalised name) occurs in the passage, (2) its embedding
    (all-MiniLM-L6-v2) is at least ``min_similarity`` cosine-close to some span of the passage
    (a sentence or two adjacent ones), and (3) it is negated exactly when that span is. The
    thresholds are measured on planted unfaithful rewrites of real passages
    (benchmarks/faithfulness.py, RESULTS.md)."""

    def __init__(self, min_similarity: float = 0.5, embedder: Any = None) -> None:
        from .metrics import default_embedder

        self.min_similarity = min_similarity
        self.embedder = embedder or default_embedder()

    def check(self, rewrite: str, passage: str) -> Support:
        return self.check_many([(rewrite, passage)])[0]

    def check_many(self, pairs: list[tuple[str, str]]) -> list[Support]:
        claims_of = [[s for s in sentences(r) if _is_claim(s)] for r, _ in pairs]
        spans_of = [_spans(p) for _, p in pairs]
        texts = [c for cs in claims_of for c in cs] + [s for ss in spans_of for s in ss]
        vectors = self.embedder.embed(texts) if texts else []
        at = 0
        claim_vecs, span_vecs = [], []
        for cs in claims_of:
            claim_vecs.append(vectors[at : at + len(cs)])
            at += len(cs)
        for ss in spans_of:
            span_vecs.append(vectors[at : at + len(ss)])
            at += len(ss)
        results = []
        for (_, passage), claims, spans, cv, sv in zip(pairs, claims_of, spans_of, claim_vecs, span_vecs):
            haystack = passage.lower()
            unsupported = []
            for i, claim in enumerate(claims):
                why = _unsupported(claim, haystack, spans, cv[i] @ sv.T if len(spans) else None, self.min_similarity)
                if why:
                    unsupported.append(f"{_short(claim)}: {why}")
            n = len(claims)
            results.append(Support(round((n - len(unsupported)) / n, 4) if n else 1.0, n, unsupported[:3]))
        return results


def repeats(text: str) -> bool:
    """A small model's rewrite often loops: the same claim twice is never a better answer."""
    seen = set()
    for claim in (s for s in sentences(text) if _is_claim(s)):
        key = " ".join(claim.lower().split())
        if key in seen:
            return True
        seen.add(key)
    return False


def _is_claim(sentence: str) -> bool:
    return len(sentence.split()) >= MIN_CLAIM_WORDS and not _FRAMING.match(sentence.lstrip("*#>- "))


def _spans(passage: str) -> list[str]:
    """The passage's sentences and each pair of adjacent ones (a rewrite often joins two)."""
    parts = sentences(passage) or [passage]
    return parts + [f"{a} {b}" for a, b in zip(parts, parts[1:])]


def _unsupported(claim: str, haystack: str, spans: list[str], similarity: Any, floor: float) -> Optional[str]:
    missing = sorted(s for s in _specifics(claim) if s.lower() not in haystack)
    if missing:
        return f"{', '.join(repr(m) for m in missing[:3])} not in the passage"
    if similarity is None:
        return "the passage has no text to support it"
    best = int(similarity.argmax())
    if float(similarity[best]) < floor:
        return f"no span of the passage says this (best cosine {float(similarity[best]):.2f} < {floor})"
    if bool(_NEGATION.search(claim)) != bool(_NEGATION.search(spans[best])):
        return "negation differs from the passage"
    return None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------- rewriter


class Rewriter:
    """An instruct model that rewrites passages, on any registered backend, through its chat
    template, greedy (the same pair always gets the same rewrite, so resumed runs match)."""

    def __init__(
        self,
        model: str = "default",
        max_new_tokens: int = 384,
        batch_size: int = 8,
        precision: str = "auto",
        backend: str = "transformers",
        **options: Any,
    ) -> None:
        from .inference import BackwardSpec
        from .inference.base import entry

        self.engine = entry(backend).cls(BackwardSpec.resolve(model), precision, **options)
        self.tokenizer = self.engine.tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def messages(self, r: Record) -> list[dict[str, str]]:
        instruction = f"{r.instruction}\n\n{r.input}" if r.input else r.instruction
        return [{"role": "user", "content": PROMPT.format(instruction=instruction, passage=r.output)}]

    def _prompt(self, r: Record) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(self.messages(r), tokenize=False, add_generation_prompt=True)
        return self.messages(r)[0]["content"] + "\n\nAnswer:\n"

    def rewrite(self, records: list[Record]) -> list[tuple[str, str]]:
        """(text, finish) per record: finish is "length" where the answer hit max_new_tokens."""
        from .inference import Decoding

        decoding = Decoding(greedy=True, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        ids = self.tokenizer([self._prompt(r) for r in records], add_special_tokens=False)["input_ids"]
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        done = self.engine.complete(
            ids, [r.id for r in records], decoding, [], [self.messages(r) for r in records] if chat else None
        )
        eos = getattr(self.engine, "eos_ids", ())
        return [(c[0].decode(self.tokenizer, eos).strip(), c[0].finish) for c in done]

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close:
            close()


@register
class Rewrite(Filter):
    """The rewrite stage: a faithful rewrite replaces the output, else the passage stays, with why."""

    # Never drops a pair; records the rewrite, the passage and the verdict in meta[REWRITE_KEY].
    # Runs in the rewriter's batches.

    name = "rewrite"
    version = 1

    def __init__(self, rewriter: Any, check: Any, min_support: float = 1.0, totals: Optional[dict] = None) -> None:
        self.rewriter, self.check, self.min_support = rewriter, check, min_support
        self.totals = {"rewritten": 0, "kept": 0, "fell_back": {}, **(totals or {})}

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        it = iter(records)
        while batch := list(itertools.islice(it, self.rewriter.batch_size)):
            texts = self.rewriter.rewrite(batch)
            supports = self.check.check_many([(text, r.output) for (text, _), r in zip(texts, batch)])
            for r, (text, finish), support in zip(batch, texts, supports):
                self._apply(r, text, finish, support)
                yield r, True

    def _apply(self, r: Record, text: str, finish: str, support: Support) -> None:
        reason = ""
        if not text:
            reason = "empty rewrite"
        elif finish == "length":
            reason = "rewrite cut at max_new_tokens"
        elif support.claims == 0:
            reason = "no checkable claim"  # link lists, bare headings: nothing an answer says
        elif repeats(text):
            reason = "repetitive rewrite"
        elif support.score < self.min_support:
            reason = f"unfaithful: {support.claims - round(support.score * support.claims)} of {support.claims} claims unsupported"
        kept = not reason
        r.meta[REWRITE_KEY] = {
            "text": text,
            "original": r.output,
            "score": support.score,
            "claims": support.claims,
            "unsupported": support.unsupported,
            "kept": kept,
            "reason": reason,
        }
        self.totals["rewritten"] += 1
        if kept:
            self.totals["kept"] += 1
            r.output = text
        else:
            key = reason.split(":")[0]
            self.totals["fell_back"][key] = self.totals["fell_back"].get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {**self.totals, "min_support": self.min_support, "min_similarity": self.check.min_similarity}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "min_support": self.min_support,
            "min_similarity": self.check.min_similarity,
        }

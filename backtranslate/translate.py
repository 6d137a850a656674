"""Stage: an instruction in its passage's language, through a translate pivot (--translate MODEL).

Most backward models, the embedded 135M one among them, write English whatever the passage's
language (MURI and the instruction-synthesizer's users want the passage's own). Instead of a
backward model per language, the pivot keeps the backward model and its filters in English and
has an instruct model the user names translate each kept instruction into the passage's language;
a translation whose detected language is not the passage's is dropped with the reason (a German
page under an English request teaches a model to answer English in German).

Why after the filters: the pair filters (length, questions about missing text, code requests,
deduplication) read English, and only pairs that are kept cost a translation. The instruction the
filters saw stays in ``meta["translation"]["original"]``; resume replays it from there.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from .filters import Filter, Verdict, register
from .filters.language import detect
from .records import Record
from .rewrite import Rewriter, repeats

TRANSLATE_KEY = "translation"  # meta[TRANSLATE_KEY] = {"original", "language", "text", "kept", "reason"}

PROMPT = """Translate this request into {language}. Write only the translated request, nothing else.

{instruction}"""

# Shorter texts are where the language detector errs (InstructionLanguage uses the same floor).
MIN_WORDS = 4
MIN_PROBABILITY = 0.8


@functools.cache
def language_name(code: str) -> str:
    """'de' -> 'German': what the prompt names (CLDR's English names, through Babel)."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code).get_display_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


class Translator(Rewriter):
    """An instruct model that translates instructions, on any backend, greedy (resumes match)."""

    def __init__(self, model: str = "default", max_new_tokens: int = 96, **options: Any) -> None:
        super().__init__(model, max_new_tokens=max_new_tokens, **options)

    def messages(self, r: Record) -> list[dict[str, str]]:
        language = language_name(r.meta["language"])
        return [{"role": "user", "content": PROMPT.format(language=language, instruction=r.instruction)}]


_LABEL = re.compile(
    r"^\s*(?:translation|translated request|request|english|[A-Z][a-z]+ translation)\s*:\s*", re.IGNORECASE
)


def clean(text: str) -> str:
    """The translation alone: the first paragraph, without a label ('Translation:', 'English:') or quotes."""
    first = text.strip().split("\n\n")[0].strip()
    first = _LABEL.sub("", first)
    return first.strip().strip("\"'“”„«»").strip()


@register
class Translate(Filter):
    """Translates a pair's instruction into its passage's language; drops it where that failed."""

    # Pairs whose instruction is already in the passage's language pass untouched. A translation
    # is kept where (1) it is detected in the passage's language, (2) it neither runs to
    # max_new_tokens nor repeats itself, and (3) the same model translates it back to English
    # close to the original (cosine >= min_similarity, all-MiniLM-L6-v2): a round trip, because a
    # small model writes fluent-looking text in the right language that says something else, and
    # the language detector alone passes it (RESULTS.md, instructions in their passage's language).

    name = "translate"
    version = 1

    def __init__(
        self, translator: Any, min_similarity: float = 0.7, embedder: Any = None, totals: Optional[dict] = None
    ) -> None:
        self.translator, self.min_similarity = translator, min_similarity
        self._embedder = embedder
        self.totals = {"translated": 0, "kept": 0, "dropped": {}, "languages": {}, **(totals or {})}

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from .metrics import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def needs(self, r: Record) -> bool:
        passage = r.meta.get("language")
        if not passage:
            return False
        code, probability = detect(r.instruction)
        if passage != "en":
            # The backward model writes English: any instruction not detected in the passage's
            # language is translated, short or unsure ones too.
            return code != passage
        return code != passage and len(r.instruction.split()) >= MIN_WORDS and probability >= MIN_PROBABILITY

    def verdicts(self, records: Iterable[Record]) -> Iterator[tuple[Record, Verdict]]:
        it = iter(records)
        while batch := list(itertools.islice(it, self.translator.batch_size)):
            todo = [r for r in batch if self.needs(r)]
            results = dict(zip(map(id, todo), self.translate(todo))) if todo else {}
            for r in batch:
                yield r, self._apply(r, results[id(r)]) if id(r) in results else True

    def translate(self, records: list[Record]) -> list[dict[str, Any]]:
        """Per record: the translation, its language, the round trip and its cosine, or the reason it fails."""
        found = []
        for r, (text, finish) in zip(records, self.translator.rewrite(records)):
            text = clean(text)
            code, probability = detect(text) if text else ("", 0.0)
            kind = reason = ""  # kind: the reason's name in the run's counts
            if not text:
                kind = reason = "empty translation"
            elif finish == "length":
                kind = reason = "translation cut at max_new_tokens"
            elif repeats(text):
                kind = reason = "repetitive translation"
            elif code != r.meta["language"] and (len(text.split()) >= MIN_WORDS or probability >= MIN_PROBABILITY):
                kind, reason = "wrong language", f"translation in {code}, passage in {r.meta['language']}"
            found.append(
                {
                    "original": r.instruction,
                    "language": r.meta["language"],
                    "text": text,
                    "reason": reason,
                    "kind": kind,
                }
            )
        # The round trip, for the translations that passed so far, in one batch.
        back = [f for f in found if not f["reason"]]
        if back:
            english = [
                Record(id=f"back-{i}", instruction=f["text"], input="", output="", meta={"language": "en"})
                for i, f in enumerate(back)
            ]
            returned = self.translator.rewrite(english)
            texts = [clean(t) for t, _ in returned]
            vectors = self.embedder.embed([f["original"] for f in back] + texts)
            for k, (f, text) in enumerate(zip(back, texts)):
                cosine = round(float(vectors[k] @ vectors[len(back) + k]), 4)
                f.update(round_trip=text, cosine=cosine)
                if cosine < self.min_similarity:
                    f["kind"], f["reason"] = "round trip", f"round trip cosine {cosine:.2f} < {self.min_similarity}"
        return found

    def _apply(self, r: Record, found: dict[str, Any]) -> Verdict:
        reason, kind = found.pop("reason"), found.pop("kind")
        r.meta[TRANSLATE_KEY] = {**found, "kept": not reason, **({"reason": reason} if reason else {})}
        self.totals["translated"] += 1
        by_language = self.totals["languages"].setdefault(found["language"], {"translated": 0, "kept": 0})
        by_language["translated"] += 1
        if reason:
            self.totals["dropped"][kind] = self.totals["dropped"].get(kind, 0) + 1
            return False, reason
        self.totals["kept"] += 1
        by_language["kept"] += 1
        r.instruction = found["text"]
        return True

    def summary(self) -> dict[str, Any]:
        return {**self.totals, "min_similarity": self.min_similarity}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "min_similarity": self.min_similarity,
            "max_new_tokens": self.translator.max_new_tokens,
        }


def as_filtered(record: Record) -> Record:
    """A kept pair as the filters before the translation saw it: with its original instruction."""
    translation = record.meta.get(TRANSLATE_KEY)
    if translation and translation.get("kept"):
        record.instruction = translation["original"]
    return record

"""Decontamination: drop pairs that overlap the evaluation sets a model trained on them will meet.

A pair is contaminated when its instruction, input or output shares a run of ``ngram`` words (13
by default, as GPT-3 and Llama did) with any text of an evaluation item, or is a MinHash
near-duplicate of one (estimated Jaccard >= ``threshold`` over the content-word 3-grams the
near_duplicate filter uses). The reject reason is ``contaminated:<set name>``.

Passages are checked before generation (output and input), so a contaminated passage costs no
generation; the instructions the model wrote are checked after. Every string of an evaluation
row counts (question, choices, answer, messages), since any of them may leak into training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..records import Record
from . import Filter, Verdict, ngrams, quote, register, words
from .minhash import Sketcher, lsh_index

NGRAM = 13
THRESHOLD = 0.8


@dataclass
class EvalSet:
    """An evaluation set ready to match against: its word n-grams and the MinHash of each text."""

    name: str
    spec: str
    ngram: int
    threshold: float
    items: int = 0
    grams: dict[int, int] = field(default_factory=dict)  # hash of an n-gram -> first item holding it
    sketches: dict[int, tuple[int, Any]] = field(default_factory=dict)  # LSH key -> (item, MinHash)

    def __post_init__(self) -> None:
        # The sketcher and LSH bands of dedup and near_duplicate (minhash.py): the same notion of
        # "near duplicate", and the bands tuned to miss few pairs at the threshold.
        self.sketcher = Sketcher()
        self.lsh = lsh_index(self.threshold, self.sketcher.num_perm)

    def add(self, texts: Iterable[str]) -> None:
        item = self.items
        self.items += 1
        for text in texts:
            tokens = words(text)
            for gram in ngrams(tokens, self.ngram):
                self.grams.setdefault(hash(gram), item)
            if len(tokens) >= 3:  # shorter texts ("B", "True") would match any short answer
                sketch = self.sketcher.sketch(text)
                if sketch is not None:
                    key = len(self.sketches)
                    self.sketches[key] = (item, sketch)
                    self.lsh.insert(key, sketch, check_duplication=False)

    def match(self, text: str) -> str:
        """Why ``text`` overlaps this set, or "" when it does not."""
        tokens = words(text)
        for gram in ngrams(tokens, self.ngram):
            item = self.grams.get(hash(gram))
            if item is not None:
                return f"shares a {self.ngram}-word run with item {item}: {quote(' '.join(gram))}"
        if not self.sketches or len(tokens) < 3:
            return ""
        sketch = self.sketcher.sketch(text)
        for key in sorted(self.lsh.query(sketch)) if sketch is not None else ():
            item, other = self.sketches[key]
            similarity = sketch.jaccard(other)
            if similarity >= self.threshold:
                return f"near duplicate of item {item} (estimated Jaccard {similarity:.2f} >= {self.threshold})"
        return ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "items": self.items,
            "ngram": self.ngram,
            "threshold": self.threshold,
        }


@register
class Contamination(Filter):
    """Pairs sharing a long word run with, or nearly duplicating, an item of an evaluation set."""

    name = "contaminated"
    stages = ("passage", "pair")

    def __init__(self, eval_set: EvalSet, fields: tuple[str, ...] = ("instruction", "input", "output")):
        self.eval_set, self.fields = eval_set, fields
        self.name = f"contaminated:{eval_set.name}"

    def filter(self, record: Record) -> Verdict:
        for name in self.fields:
            text = getattr(record, name)
            why = self.eval_set.match(text) if text else ""
            if why:
                return False, f"{name} {why}"
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "fields": list(self.fields), **self.eval_set.describe()}


def load_eval_sets(specs: Iterable[str], ngram: int = NGRAM, threshold: float = THRESHOLD) -> list[EvalSet]:
    """Each spec is a JSON/JSONL/CSV/Parquet file, a `save_to_disk` folder or a Hugging Face
    dataset name (``name`` or ``name:config``; every split is read)."""
    sets: list[EvalSet] = []
    names: Counter = Counter()
    for spec in specs:
        name = _set_name(spec)
        names[name] += 1
        if names[name] > 1:
            name = f"{name}#{names[name]}"
        eval_set = EvalSet(name=name, spec=spec, ngram=ngram, threshold=threshold)
        for row in _rows(spec):
            eval_set.add(_texts(row))
        if not eval_set.items:
            raise UserError(f"Evaluation set {spec} has no rows; --decontaminate needs the items to check against.")
        sets.append(eval_set)
    return sets


def _set_name(spec: str) -> str:
    path = Path(spec).expanduser()
    if path.is_file():
        return path.stem
    if path.is_dir():
        return path.name
    return spec


def _rows(spec: str) -> Iterator[Any]:
    """Every split's rows: a benchmark's test split is what must stay out of the data."""
    from ..readers.seed import read_rows

    return read_rows(spec, Counter(), [], what="Evaluation set", all_splits=True)


def _texts(value: Any) -> Iterator[str]:
    """Every string in a row, however nested (choices lists, message lists)."""
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _texts(v)

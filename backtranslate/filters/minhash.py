"""MinHash near-duplicate detection, in one place for every user: the `near_duplicate` filter
(generate, merge, `backtranslate dedup`), decontamination against evaluation sets, and the
report's clusters. One sketcher (content-word 3-grams) and one LSH banding, so "near duplicate"
means the same thing everywhere; datasketch's LSH index finds candidates without comparing
every pair.

- streaming keep-first lookup (:class:`NearDuplicateIndex`): a text is dropped when one kept
  earlier is close;
- clusters (:func:`near_duplicate_clusters`) for the report: every group of mutually close texts.

The cost per text is one sketch plus one LSH query, so time grows linearly with the dataset
(benchmarks/dedup.py: 100k records in under a minute of CPU, where all-pairs comparison takes hours).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from ..errors import UserError

_WORD = re.compile(r"\w+")

# Function words dropped before shingling, so "to Friday's lunch" and "to the Friday lunch" give the
# same shingles: on texts as short as instructions one changed word otherwise breaks three 3-grams.
# Negations stay: "do not reply" and "reply" are different requests.
STOPWORDS: frozenset[str] = frozenset(
    "a an the s of to for in on at by with from and or is are be this that these those it its".split()
)


def _datasketch() -> Any:
    try:
        import datasketch
    except ImportError:
        raise UserError("Near-duplicate detection needs datasketch: pip install datasketch") from None
    return datasketch


class Sketcher:
    """Text -> MinHash over lowercased content-word n-grams (a bag of words for short texts)."""

    def __init__(
        self, num_perm: int = 128, shingle: int = 3, seed: int = 1, stopwords: Optional[frozenset[str]] = STOPWORDS
    ) -> None:
        self.num_perm, self.shingle, self.seed, self.stopwords = num_perm, shingle, seed, stopwords
        self._MinHash = _datasketch().MinHash
        # Permutations come from the seed alone; computing them once makes each sketch ~5x cheaper.
        self._template = self._MinHash(num_perm=num_perm, seed=seed)

    def shingles(self, text: str) -> set[bytes]:
        tokens = _WORD.findall(text.lower())
        if self.stopwords:
            tokens = [t for t in tokens if t not in self.stopwords] or tokens
        n = self.shingle if len(tokens) >= self.shingle else 1
        return {" ".join(tokens[i : i + n]).encode("utf-8") for i in range(len(tokens) - n + 1)}

    def sketch(self, text: str) -> Any:
        """The MinHash of ``text``, or None when it has no words to compare."""
        shingles = self.shingles(text)
        if not shingles:
            return None
        sketch = self._MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            scheme=self._template.scheme,
            permutations=self._template.permutations,
        )
        sketch.update_batch(sorted(shingles))
        return sketch


# LSH bands are tuned to miss few pairs above the threshold (datasketch's default weights miss
# 60% of pairs at exactly the threshold): a false candidate costs one signature comparison, a
# missed one a duplicate left in the dataset.
LSH_WEIGHTS = (0.2, 0.8)


def _band_key(band: bytes) -> bytes:
    """Band keys shortened to 8 bytes: the index stores one per band per text."""
    return hashlib.blake2b(band, digest_size=8).digest()


def lsh_index(threshold: float, num_perm: int) -> Any:
    """An empty LSH index with the tuned bands."""
    return _datasketch().MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS, hashfunc=_band_key)


def similarity(a: Any, b: Any) -> float:
    """Estimated Jaccard of two signatures: the share of equal MinHash values."""
    import numpy as np

    return float(np.count_nonzero(a == b)) / len(a)


class NearDuplicateIndex:
    """Keep-first near-duplicate lookup: :meth:`match` finds a kept text close to a new one,
    :meth:`add` keeps a text. LSH proposes candidates; the signatures' estimated Jaccard decides.
    Only each kept text's signature is held (512 bytes), not its MinHash object."""

    def __init__(self, threshold: float, num_perm: int = 128) -> None:
        self.threshold = threshold
        self._lsh = lsh_index(threshold, num_perm)
        self._kept: list[tuple[str, Any]] = []  # LSH key (position) -> (record id, signature)

    def match(self, sketch: Any) -> Optional[tuple[str, float]]:
        """(id, estimated Jaccard) of the earliest kept text at or above the threshold, or None.
        LSH returns candidates in no fixed order; the earliest is reported so reasons are the same
        on every run."""
        for key in sorted(self._lsh.query(sketch)):
            first_id, other = self._kept[key]
            estimate = similarity(sketch.hashvalues, other)
            if estimate >= self.threshold:
                return first_id, estimate
        return None

    def add(self, item_id: str, sketch: Any) -> None:
        self._lsh.insert(len(self._kept), sketch, check_duplication=False)
        self._kept.append((item_id, sketch.hashvalues))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def near_duplicate_clusters(
    texts: Sequence[str], threshold: float = 0.8, sketcher: Optional[Sketcher] = None, progress: Optional[str] = None
) -> list[list[int]]:
    """Groups (of two or more) of positions in ``texts`` linked by estimated Jaccard >= threshold,
    largest first, each sorted. Linking is transitive (single linkage), as dedup needs: a chain
    of small edits is one family of texts. One pass: each text is linked to the earlier texts
    LSH proposes and the signatures confirm, then indexed."""
    import numpy as np

    sketcher = sketcher or Sketcher()
    lsh = lsh_index(threshold, sketcher.num_perm)
    signatures = np.zeros((len(texts), sketcher.num_perm), dtype=np.uint32)
    groups, present = _UnionFind(len(texts)), []
    for i, text in enumerate(with_progress(texts, progress)):
        sketch = sketcher.sketch(text)
        if sketch is None:
            continue
        signatures[i] = sketch.hashvalues
        for j in lsh.query(sketch):
            if similarity(signatures[i], signatures[j]) >= threshold:
                groups.union(i, j)
        lsh.insert(i, sketch, check_duplication=False)
        present.append(i)
    members: dict[int, list[int]] = {}
    for i in present:
        members.setdefault(groups.find(i), []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: (-len(m), m[0]))


def with_progress(items: Sequence[str], desc: Optional[str]) -> Iterable[str]:
    if not desc:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="text", leave=False)

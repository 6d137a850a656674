"""A generate run's statistics as types: built by generate, summed over shards by merge, written
to stats.json, read back by the summary. A renamed or missing field is an error where the
statistics are built or loaded, not a KeyError at the end of a long run.

``to_dict`` writes the stats.json layout (keys in the order users know); ``from_dict`` reads it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class ModelInfo:
    spec: str
    base: str
    template: str
    precision: str
    backend: str
    server: Optional[dict] = None  # --backend openai: servers, served model, what they ignored, retries


@dataclass
class ReadCounts:
    files: int
    documents: int
    skipped: dict[str, int]
    skipped_examples: Any  # reason -> a few of the files or rows skipped for it
    cleaned: dict[str, int]  # cleaning steps (quotes, trailers, markup, ...) and their counts


@dataclass
class PassageCounts:
    segmented: int
    kept: int
    dropped: dict[str, int]


@dataclass
class PairCounts:
    candidates: int
    kept: int
    dropped: dict[str, int]
    # --retry: passages whose greedy instruction was dropped and got sampled candidates, and how
    # many of those passages kept one
    retried: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.candidates - self.kept


@dataclass
class GenerationCounts:
    seconds: float
    generated_tokens: int
    tokens_per_second: float = -1.0  # from the unrounded seconds, when not read back from stats.json

    def __post_init__(self) -> None:
        if self.tokens_per_second < 0:
            self.tokens_per_second = round(self.generated_tokens / self.seconds, 1) if self.seconds else 0.0


@dataclass
class RunStats:
    settings: dict[str, Any]
    model: ModelInfo
    read: ReadCounts
    passages: PassageCounts
    pairs: PairCounts
    generation: GenerationCounts
    filters: dict[str, Any]
    redaction: Optional[dict[str, Any]]
    threads: Optional[dict[str, Any]]
    languages: Optional[dict[str, Any]]
    decontamination: list[dict[str, Any]]
    shards: Optional[int] = None  # merged runs: how many shard folders
    curation: Optional[dict[str, Any]] = None
    rewrite: Optional[dict[str, Any]] = None  # --rewrite: rewritten, kept, fell back by reason
    translation: Optional[dict[str, Any]] = None  # --translate: translated, kept, dropped by reason
    # Completed by dataset.finalize when the folder is written:
    version: Optional[str] = None
    lengths: Optional[dict[str, Any]] = None
    task_mix: Optional[dict[str, Any]] = None  # tasktypes.task_mix of the kept instructions
    preferences: Optional[dict[str, Any]] = None  # --format dpo/kto: preferences.pair_counts
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"settings": self.settings, "model": dataclasses.asdict(self.model)}
        if self.shards is not None:
            out["shards"] = self.shards
        out["read"] = dataclasses.asdict(self.read)
        out["passages"] = dataclasses.asdict(self.passages)
        out["pairs"] = {
            "candidates": self.pairs.candidates,
            "kept": self.pairs.kept,
            "rejected": self.pairs.rejected,
            "dropped": self.pairs.dropped,
            **({"retried": self.pairs.retried} if self.pairs.retried else {}),
        }
        out["generation"] = {
            "seconds": round(self.generation.seconds, 1),
            "generated_tokens": self.generation.generated_tokens,
            "tokens_per_second": self.generation.tokens_per_second,
        }
        out.update(
            filters=self.filters,
            redaction=self.redaction,
            threads=self.threads,
            languages=self.languages,
            decontamination=self.decontamination,
        )
        if self.curation is not None:
            out["curation"] = self.curation
        if self.rewrite is not None:
            out["rewrite"] = self.rewrite
        if self.translation is not None:
            out["translation"] = self.translation
        if self.version is not None:
            out.update(version=self.version, lengths=self.lengths, task_mix=self.task_mix)
            if self.preferences is not None:
                out["preferences"] = self.preferences
            out["files"] = self.files
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunStats:
        pairs = {k: v for k, v in d["pairs"].items() if k != "rejected"}
        return cls(
            settings=d["settings"],
            model=ModelInfo(**d["model"]),
            read=ReadCounts(**d["read"]),
            passages=PassageCounts(**d["passages"]),
            pairs=PairCounts(**pairs),
            generation=GenerationCounts(**d["generation"]),
            filters=d["filters"],
            redaction=d.get("redaction"),
            threads=d.get("threads"),
            languages=d.get("languages"),
            decontamination=d.get("decontamination", []),
            shards=d.get("shards"),
            curation=d.get("curation"),
            rewrite=d.get("rewrite"),
            translation=d.get("translation"),
            version=d.get("version"),
            lengths=d.get("lengths"),
            task_mix=d.get("task_mix"),
            preferences=d.get("preferences"),
            files=d.get("files", []),
        )

    @classmethod
    def merged(
        cls, shards: list[RunStats], settings: dict[str, Any], pairs: PairCounts, merge_filters: list[str]
    ) -> RunStats:
        """The statistics of a run made of ``shards``: every shard read, threaded and redacted the
        whole corpus and kept only its passages, so reading counts once and the rest adds up."""

        def total(get: Any) -> Counter:
            c: Counter = Counter()
            for s in shards:
                c.update(get(s))
            return c

        first = shards[0]
        seconds = sum(s.generation.seconds for s in shards)
        languages = None
        if first.languages is not None:
            mix = total(lambda s: (s.languages or {}).get("mix", {}))
            languages = {"mix": dict(mix.most_common()), "kept": first.languages["kept"]}
        return cls(
            settings=settings,
            model=first.model,
            shards=len(shards),
            read=first.read,
            passages=PassageCounts(
                segmented=first.passages.segmented,
                kept=sum(s.passages.kept for s in shards),
                dropped=dict(total(lambda s: s.passages.dropped)),
            ),
            pairs=pairs,
            generation=GenerationCounts(seconds, sum(s.generation.generated_tokens for s in shards)),
            filters={**first.filters, "merge": merge_filters},
            redaction=first.redaction,
            threads=first.threads,
            languages=languages,
            decontamination=first.decontamination,
        )

"""`backtranslate plan`: what a `generate` run would do, told before it runs.

It reads and cuts the whole corpus exactly as `generate` would (the same reading, threads,
redaction, passage filters and tokenizer), then runs the backward model and the pair filters on
a small random sample of the passages, and extrapolates: documents, passages, prompt tokens,
generation time on this machine and backend, expected kept pairs and disk use. It writes
nothing: not the output folder, not a cache of passages.

The time estimate is conservative: the sample goes through the model as one small batch, and a
full run's batches of up to ``batch_size`` prompts reach more tokens per second.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

from .config import GenerateConfig
from .dataset import record_row
from .filters import FilterStats, apply_filters
from .filters.decontaminate import load_eval_sets
from .generate import Counted, backward_model, decoding_of, documents, filter_chain, retry_chain, retry_decoding
from .passages import TokenMeter, segment_all
from .readers.corpus import ReadStats
from .redact import RedactionStats
from .threads import ThreadStats

SAMPLE = 16  # passages through the model: a few minutes at most on 2 CPU cores with the embedded model
OUTPUT_FILES = ("data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl")


@dataclass
class Plan:
    files: int | None
    documents: int
    skipped: dict[str, int]
    passages_cut: int
    passages: int  # to the model, after the passage filters (and --max-passages)
    prompt_tokens: int
    passage_drops: dict[str, int]
    sample: int
    candidates: int
    kept: int
    pair_drops: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0
    sample_seconds: float = 0.0  # the sample's generation and pair filters
    backend: str = ""
    precision: str = ""
    bytes_per_kept: float = 0.0
    bytes_per_candidate: float = 0.0

    @property
    def seconds(self) -> float:
        return self.sample_seconds / max(self.sample, 1) * self.passages

    @property
    def expected_kept(self) -> int:
        return round(self.kept / max(self.sample, 1) * self.passages)

    @property
    def disk_bytes(self) -> int:
        """data.json and data.jsonl hold the kept pairs, candidates.jsonl every candidate, and
        rejected.jsonl the dropped passages and candidates (rows about the size of a candidate)."""
        candidates = self.candidates / max(self.sample, 1) * self.passages
        rejected = (self.passages_cut - self.passages) + max(candidates - self.expected_kept, 0)
        return round(2 * self.expected_kept * self.bytes_per_kept + (candidates + rejected) * self.bytes_per_candidate)


def plan(cfg: GenerateConfig, sample: int = SAMPLE) -> Plan:
    """Read and cut the corpus, run a sample through the model and the pair filters, extrapolate."""
    read_stats = ReadStats()
    thread_stats = ThreadStats() if cfg.email_mode in ("thread", "auto") else None
    docs = documents(cfg, read_stats, thread_stats, RedactionStats())
    eval_sets = load_eval_sets(cfg.decontaminate or [], cfg.decontaminate_ngram, cfg.decontaminate_threshold)
    started = time.perf_counter()
    model = backward_model(cfg)
    load_seconds = time.perf_counter() - started
    chain = filter_chain(cfg, eval_sets, model)
    try:
        meter = TokenMeter(model.tokenizer)
        passage_stats = FilterStats()
        cut = Counted(segment_all(docs, meter, cfg.min_tokens, cfg.max_tokens))
        passages = list(apply_filters(cut, chain.passage, passage_stats))
        if cfg.max_passages:
            passages = passages[: cfg.max_passages]
        prompt_tokens = sum(meter.count(p.output) + (meter.count(p.input) if p.input else 0) for p in passages)
        picked = random.Random(cfg.random_seed).sample(passages, min(sample, len(passages)))
        pair_stats = FilterStats()
        started = time.perf_counter()
        candidates = list(model.generate(picked, decoding_of(cfg))) if picked else []
        kept = list(apply_filters(list(candidates), chain.pair, pair_stats))
        if cfg.retry:  # as generate does: sampled candidates for the passages whose greedy one was dropped
            done = {r.meta.get("passage_id") for r in kept}
            missed = [p for p in picked if p.id not in done]
            retried = list(model.generate(missed, retry_decoding(cfg, decoding_of(cfg)), first_index=1))
            candidates += retried
            kept += apply_filters(retried, retry_chain(cfg, chain.pair), pair_stats)
        sample_seconds = time.perf_counter() - started
    finally:
        model.close()
    return Plan(
        files=read_stats.files,
        documents=read_stats.documents,
        skipped=dict(read_stats.skipped),
        passages_cut=cut.count,
        passages=len(passages),
        prompt_tokens=prompt_tokens,
        passage_drops={k: v for k, v in passage_stats.dropped.items() if v},
        sample=len(picked),
        candidates=len(candidates),
        kept=len(kept),
        pair_drops={k: v for k, v in pair_stats.dropped.items() if v},
        load_seconds=load_seconds,
        sample_seconds=sample_seconds,
        backend=cfg.backend,
        precision=getattr(model, "precision", ""),
        bytes_per_kept=_mean_bytes(kept),
        bytes_per_candidate=_mean_bytes(candidates),
    )


def _mean_bytes(records: list) -> float:
    if not records:
        return 0.0
    return sum(len(json.dumps(record_row(r), ensure_ascii=False).encode("utf-8")) + 1 for r in records) / len(records)

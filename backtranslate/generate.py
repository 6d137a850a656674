"""The generate run: corpus -> [threads] -> redaction -> passages -> candidate instructions ->
filtered Alpaca dataset.

Every stage streams: documents are read lazily, passages go to the model in fixed chunks, and
each chunk's candidates, kept pairs and rejects are appended to their files as soon as they
exist. A finished chunk is recorded in progress.jsonl (resume.py), so a killed run resumes at
the next chunk; chunk boundaries depend only on the passage stream, which makes a resumed run
produce exactly what an uninterrupted one would, sampled runs included.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .config import GenerateConfig, parse_shard, to_dict
from .curate import SCORERS, Curation
from .dataset import JsonlWriter, finalize, record_row
from .filters import (
    Filter,
    FilterStats,
    apply_filters,
    default_pair_filters,
    default_passage_filters,
)
from .filters.confidence import DEFAULT_THRESHOLD as CONFIDENCE_THRESHOLD
from .filters.confidence import Confidence
from .filters.decontaminate import Contamination, EvalSet, load_eval_sets
from .filters.language import InstructionLanguage, Language, resolve_languages
from .filters.relevance import Relevance
from .filters.selection import BestOfK
from .formats import output_files
from .inference import BackwardModel, Decoding, options_from
from .passages import TokenMeter, segment_all
from .readers.corpus import ReadStats, read_corpus
from .records import Record
from .redact import RedactionStats, Redactor, corpus_names, count_placeholders
from .resume import check_writable, mark_done, open_run, record_chunk
from .rewrite import REWRITE_KEY, Faithfulness, Rewrite, Rewriter
from .runstats import GenerationCounts, ModelInfo, PairCounts, PassageCounts, ReadCounts, RunStats
from .templates import GENERATED_TAG
from .threads import ThreadStats, thread_records
from .translate import Translate, Translator
from .translate import as_filtered as untranslated

log = logging.getLogger(__name__)
# Everything a run writes (--overwrite clears it all): the run's own files and every format's.
OUTPUTS = ("data.jsonl", "candidates.jsonl", "rejected.jsonl", "stats.json", "README.md", *output_files())
CHUNK_BATCHES = 4  # batches per chunk: enough to sort by length, little to redo after a crash


@dataclass
class GenerateResult:
    out: Path
    stats: dict[str, Any]  # stats.json as written (runstats.RunStats.from_dict reads it typed)
    examples: list[dict[str, Any]] = field(default_factory=list)


def chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def shard_of(record_id: str, count: int) -> int:
    """Deterministic shard of a passage, from its stable (hex) id."""
    return int(record_id[:12], 16) % count


def resolve_shard(cfg: GenerateConfig) -> Optional[tuple[int, int]]:
    """--shard I/N, else the rank and world size set by torchrun / accelerate launch."""
    if cfg.shard:
        return parse_shard(cfg.shard)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def output_folder(cfg: GenerateConfig, shard: Optional[tuple[int, int]]) -> Path:
    out = Path(cfg.out)
    return out / f"shard-{shard[0]}-of-{shard[1]}" if shard else out


@dataclass
class FilterChain:
    """A run's filters in order: the passage stage (before the model) and the pair stage (after).

    Built in one place from the run's settings (``filter_chain``); ``merge`` rebuilds the same
    chain from the settings a run recorded and re-runs its dataset-wide filters over the shards.
    """

    passage: list[Filter]
    pair: list[Filter]

    def dataset_wide(self, stage: str) -> list[Filter]:
        return [f for f in getattr(self, stage) if f.dataset_wide]


def filter_chain(cfg: GenerateConfig, eval_sets: list[EvalSet], model: Any = None) -> FilterChain:
    """``model``: the run's backward model, which the confidence filter scores with (merge, which
    re-runs only the dataset-wide filters, has none)."""
    return FilterChain(passage=passage_filters(cfg, eval_sets), pair=pair_filters(cfg, eval_sets, model))


def passage_filters(cfg: GenerateConfig, eval_sets: list[EvalSet]) -> list[Filter]:
    """The passage filters, then language (after deduplication: each distinct passage is
    classified once) and decontamination of the passage and its input."""
    return (
        default_passage_filters(
            patch={"patches": cfg.patches}, standalone={"orphan_replies": cfg.email_mode == "message"}
        )
        + [Language(passage_languages(cfg))]
        + [Contamination(s, fields=("output", "input")) for s in eval_sets]
    )


def passage_languages(cfg: GenerateConfig) -> Optional[tuple[str, ...]]:
    """--languages; with --translate, `auto` keeps every language: the translator writes the
    instruction in the passage's language, whatever language the backward model writes."""
    if cfg.translate and (cfg.languages or "").strip().lower() == "auto":
        return None
    return resolve_languages(cfg.languages, cfg.model)


def pair_filters(cfg: GenerateConfig, eval_sets: list[EvalSet], model: Any = None) -> list[Filter]:
    """The pair filters; decontamination of the instruction runs even with --no-filter, before the
    dataset-wide deduplication so that a contaminated pair claims no first slot."""
    contamination: list[Filter] = [Contamination(s, fields=("instruction",)) for s in eval_sets]
    if not cfg.filter:
        return contamination
    filters = default_pair_filters(
        instruction_length={"max_words": cfg.max_instruction_words},
        near_duplicate={"threshold": cfg.near_duplicate_threshold},
    )
    # Relevance scores the pairs the cheap checks kept; best of K picks among those it kept, so
    # that only the chosen candidate claims a slot in the dataset-wide deduplication after it.
    chosen: list[Filter] = [Relevance(cfg.relevance_scorer, cfg.relevance_threshold)] if cfg.relevance else []
    if cfg.confidence and model is not None:  # the model's own certainty, before best of K picks
        threshold = CONFIDENCE_THRESHOLD if cfg.confidence_threshold is None else cfg.confidence_threshold
        chosen.insert(0, Confidence(threshold, model=model))
    if cfg.num_candidates > 1:
        chosen.append(BestOfK("relevance" if cfg.relevance else "candidate_order", cfg.balance, cfg.balance_margin))
    first_dedup = next(i for i, f in enumerate(filters) if f.name == "exact_duplicate")
    # The instruction must be in its passage's language (the passage's was detected before the model);
    # with --translate the translation stage checks that after translating (Run appends it).
    language: list[Filter] = [] if cfg.translate else [InstructionLanguage()]
    return filters[:first_dedup] + language + contamination + chosen + filters[first_dedup:]


def documents(
    cfg: GenerateConfig, read_stats: ReadStats, thread_stats: Optional[ThreadStats], redaction_stats: RedactionStats
) -> Iterator[Record]:
    """The corpus as documents: read, paired into threads (--email-mode thread), then redacted,
    so that nothing after this point ever sees what redaction removed."""
    docs: Iterable[Record] = read_corpus(cfg.corpus, text_field=cfg.text_field, id_field=cfg.id_field, stats=read_stats)
    if thread_stats is not None:
        docs = thread_records(docs, thread_stats)
    if cfg.redact:
        docs = Redactor(known_names=known_names(cfg)).records(docs, redaction_stats)
    return iter(docs)


def known_names(cfg: GenerateConfig) -> list[str]:
    """The people named in any mail header or signature of a local corpus, found in a first pass
    over it: a name is redacted in every document, also where its person is only mentioned. (The
    pass costs a read of the corpus, little next to generation; a Hub dataset is not read twice.)"""
    if not Path(cfg.corpus).expanduser().exists():
        return []
    names = corpus_names(read_corpus(cfg.corpus, text_field=cfg.text_field, id_field=cfg.id_field, stats=ReadStats()))
    if names:
        log.info("redaction: %d names from mail headers and signatures across the corpus", len(names))
    return names


def _count_redactions(passages: Iterable[Record]) -> Iterator[Record]:
    """Each passage's own redactions by type: the placeholders in its text, its input and its
    address headers (the document's totals are in the stats)."""
    for p in passages:
        headers = (p.meta.get(k) or "" for k in ("from", "to", "cc"))
        p.meta["redactions"] = count_placeholders(p.output, p.input, *headers)
        yield p


def curation(cfg: GenerateConfig, totals: Optional[dict] = None) -> Optional[Curation]:
    """--curate: the last pair filter, so the model scores only pairs the cheap filters kept."""
    if not cfg.curate:
        return None
    if cfg.backend == "openai":
        # The scorer asks the same server(s) for the model --curate-model names (else the one base
        # model there), never for the backward adapter. In-process backends keep the scorer on
        # transformers: a second vLLM engine would claim the GPU memory the first one holds.
        options = {**options_from(cfg.backend, cfg), "lora_name": None, "served_model": None}
        scorer = SCORERS[cfg.curate](cfg.curate_model, precision=cfg.precision, backend=cfg.backend, **options)
    else:
        scorer = SCORERS[cfg.curate](cfg.curate_model)
    return Curation(scorer, cfg.curate_threshold, totals)


def helper_model(cfg: GenerateConfig) -> dict[str, Any]:
    """Where --rewrite's and --translate's instruct models run: on the same server(s) with
    --backend openai (the model named, no LoRA), else in process with transformers."""
    if cfg.backend != "openai":
        return {"precision": cfg.precision, "backend": "transformers"}
    options = {**options_from(cfg.backend, cfg), "lora_name": None, "served_model": None}
    return {"precision": cfg.precision, "backend": "openai", **options}


def rewriting(cfg: GenerateConfig, totals: Optional[dict] = None) -> Optional[Rewrite]:
    """--rewrite: after every filter and curation, so only pairs that are kept get rewritten. Its
    model is placed as curation's is (the same server with --backend openai, else transformers)."""
    if not cfg.rewrite:
        return None
    rewriter = Rewriter(cfg.rewrite, max_new_tokens=cfg.rewrite_max_new_tokens, **helper_model(cfg))
    return Rewrite(rewriter, Faithfulness(cfg.rewrite_similarity), cfg.rewrite_min_support, totals)


def translation(cfg: GenerateConfig) -> Optional[Translate]:
    """--translate: after the filters and curation (which read the backward model's English), before
    --rewrite (which answers the translated instruction); its model is placed as --rewrite's is."""
    if not cfg.translate:
        return None
    translator = Translator(cfg.translate, **helper_model(cfg))
    return Translate(translator, cfg.translate_similarity)


def backward_model(cfg: GenerateConfig) -> BackwardModel:
    """The backward model on the run's backend, with the backend's own options."""
    return BackwardModel(
        cfg.model, cfg.template, cfg.precision, cfg.backend, prime=cfg.use_prime, **options_from(cfg.backend, cfg)
    )


def decoding_of(cfg: GenerateConfig) -> Decoding:
    return Decoding.of(cfg)


def retry_chain(cfg: GenerateConfig, pair_filters: list[Filter], stages: tuple = ()) -> list[Filter]:
    """--retry's chain: the same filter instances (the deduplication knows what was kept), with
    best of K before the deduplication and before the later ``stages`` (curation, translation,
    rewriting), as the chain of a --num-candidates run has it."""
    at = next(
        (i for i, f in enumerate(pair_filters) if f.name == "exact_duplicate" or any(f is s for s in stages)),
        len(pair_filters),
    )
    best = BestOfK("relevance" if cfg.relevance else "candidate_order")
    return pair_filters[:at] + [best] + pair_filters[at:]


def retry_decoding(cfg: GenerateConfig, decoding: Decoding) -> Decoding:
    """--retry's candidates are sampled, ``cfg.retry`` of them."""
    return dataclasses.replace(decoding, greedy=False, num_candidates=cfg.retry)


def generate(cfg: GenerateConfig, on_progress: Callable[[dict[str, int]], None] | None = None) -> GenerateResult:
    """Run (or resume) the pipeline into the output folder; ``on_progress(counts)`` after each
    chunk, with the documents read, passages cut, passages sent to the model and pairs kept.

    Top to bottom: documents (read, threads, redaction) are cut into passages and the passage
    filters run; each chunk of passages goes to the backward model, its candidates through the
    pair filters, and its files are synced and the chunk recorded as done; at the end the
    dataset folder gets its formats, stats and card. `Run` holds what a resumed run carries on."""
    run = Run(cfg)
    if run.finished:
        return _finished(run.out)
    try:
        for index, chunk in enumerate(chunks(run.passages(), cfg.batch_size * CHUNK_BATCHES)):
            if run.done_before(index, chunk):
                continue
            if run.balancer:
                run.balancer.start_chunk()
            candidates = run.written(run.model.generate(chunk, run.decoding))
            kept = {
                run.keep(pair)
                for pair in apply_filters(candidates, run.pair_filters, run.pair_stats, on_reject=run.reject("pair"))
            }
            if cfg.retry:
                run.retry([p for p in chunk if p.id not in kept])
            run.end_chunk(index, chunk, on_progress)
    finally:
        run.close()
    return run.finish()


class Run:
    """One generate run: its folder, model, filters, output files and counts, and where an
    interrupted run stopped."""

    def __init__(self, cfg: GenerateConfig) -> None:
        self.cfg = cfg
        if cfg.prime and not cfg.use_prime:
            log.info("--balance: no primer is used (it would open every candidate of a passage alike)")
        self.shard = shard = resolve_shard(cfg)
        self.out = out = output_folder(cfg, shard)
        self.settings = {
            **to_dict(cfg),
            "greedy": cfg.use_greedy,
            "prime": cfg.use_prime,
            "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        }
        self.read_stats, self.redaction_stats = ReadStats(), RedactionStats()
        self.thread_stats = ThreadStats() if cfg.email_mode in ("thread", "auto") else None
        # A bad corpus or evaluation set fails here, before anything is loaded or written.
        self.docs = documents(cfg, self.read_stats, self.thread_stats, self.redaction_stats)
        self.eval_sets = load_eval_sets(cfg.decontaminate or [], cfg.decontaminate_ngram, cfg.decontaminate_threshold)
        check_writable(out)
        # The model loads before the output folder is touched: a typo in --model must neither clear
        # an earlier dataset (--overwrite) nor leave a run.json behind.
        self.model = backward_model(cfg)
        self.curator = curation(cfg)  # loads its model here too, for the same reason
        self.rewriter = rewriting(cfg)
        self.translator = translation(cfg)
        self.progress = open_run(out, self.settings, OUTPUTS, cfg.overwrite, cfg.resume)
        self.finished = self.progress.done and (out / "stats.json").exists()
        if self.finished:
            self.model.close()
            return
        if self.curator:
            self.curator.totals.update(self.progress.counters.get("curation", {}))
        if self.rewriter:
            self.rewriter.totals.update(self.progress.counters.get("rewrite", {}))
        if self.translator:
            self.translator.totals.update(self.progress.counters.get("translation", {}))
        self.decoding = decoding_of(cfg)
        self.counters = {
            "pair_stats": {"seen": {}, "kept": {}, "dropped": {}},
            "generated_tokens": 0,
            "seconds": 0.0,
            "candidates": 0,
            "kept": 0,
            **self.progress.counters,
        }
        self.passage_stats = FilterStats()
        self.pair_stats = FilterStats.from_dict(self.counters["pair_stats"])
        chain = filter_chain(cfg, self.eval_sets, self.model)
        self.passage_filters, self.pair_filters = chain.passage, chain.pair
        self.language = next(f for f in self.passage_filters if isinstance(f, Language))
        self.writers = {
            name: JsonlWriter(out / f"{name}.jsonl", self.counters.get(name, 0))
            for name in ("data", "candidates", "rejected")
        }
        _replay_kept(out, self.pair_filters)
        # --balance: the task types earlier chunks kept, recounted from data.jsonl (tasktypes.Balance).
        self.balancer = next((f.balancer for f in self.pair_filters if isinstance(f, BestOfK)), None)
        if self.balancer and self.progress.chunks:
            from .dataset import read_jsonl

            for row in read_jsonl(out / "data.jsonl"):
                self.balancer.keep(row["instruction"])
        if self.curator:
            self.pair_filters.append(self.curator)
        # After the replay too: a resumed run never translates or rewrites finished pairs again.
        if self.translator:
            self.pair_filters.append(self.translator)
        if self.rewriter:
            self.pair_filters.append(self.rewriter)
        self.replaying = self.progress.chunks > 0  # while true, passage rejects are already on disk
        self.sent, self.started = 0, time.perf_counter()
        self.segmented = Counted(())
        self.retry_filters: Optional[list[Filter]] = None  # built at the first --retry

    def passages(self) -> Iterator[Record]:
        """Documents cut into passages, numbered, taken for this shard and filtered."""
        cfg = self.cfg
        passages: Iterable[Record] = segment_all(
            self.docs, TokenMeter(self.model.tokenizer), cfg.min_tokens, cfg.max_tokens
        )
        if cfg.redact:
            passages = _count_redactions(passages)
        self.segmented = Counted(passages)
        passages = self.segmented
        if self.shard:
            passages = (p for p in passages if shard_of(p.id, self.shard[1]) == self.shard[0])
        passages = apply_filters(passages, self.passage_filters, self.passage_stats, on_reject=self.reject("passage"))
        return itertools.islice(passages, cfg.max_passages) if cfg.max_passages else iter(passages)

    def keep(self, pair: Record) -> str:
        """Write a pair that passed every filter; returns its passage's id."""
        if self.cfg.system_tags:
            pair.meta["system"] = GENERATED_TAG
        self.writers["data"].write(record_row(pair))
        if self.balancer:
            self.balancer.keep(pair.instruction)
        return pair.meta.get("passage_id") or pair.id

    def retry(self, missed: list[Record]) -> None:
        """--retry: the passages whose greedy instruction was dropped get sampled candidates
        (numbered from 1, after the greedy one), through the same filter instances (so the
        deduplication knows what was kept) with best of K before the deduplication."""
        if not missed:
            return
        if self.retry_filters is None:
            self.retry_filters = retry_chain(
                self.cfg, self.pair_filters, (self.curator, self.translator, self.rewriter)
            )
        candidates = self.written(self.model.generate(missed, retry_decoding(self.cfg, self.decoding), first_index=1))
        kept = [
            self.keep(pair)
            for pair in apply_filters(candidates, self.retry_filters, self.pair_stats, on_reject=self.reject("pair"))
        ]
        retried = self.counters.setdefault("retried", {"passages": 0, "kept": 0})
        retried["passages"] += len(missed)
        retried["kept"] += len(kept)

    def done_before(self, index: int, chunk: list[Record]) -> bool:
        """Whether this chunk was finished before an interruption (its passages are counted either way)."""
        self.sent += len(chunk)
        if index < self.progress.chunks:
            self.replaying = index + 1 < self.progress.chunks
            return True
        self.replaying = False
        return False

    def reject(self, stage: str) -> Callable[[Record], None]:
        def write(r: Record) -> None:
            if not (stage == "passage" and self.replaying):
                row = {**record_row(r), "stage": stage, "reason": r.meta.get("reject_reason", "")}
                self.writers["rejected"].write(row)

        return write

    def written(self, candidates: Iterable[Record]) -> Iterator[Record]:
        """Pass the candidates on to the filters, each first appended to candidates.jsonl."""
        for candidate in candidates:
            self.writers["candidates"].write(record_row(candidate))
            self.counters["generated_tokens"] += candidate.meta["generated_tokens"]
            yield candidate

    def end_chunk(self, index: int, chunk: list[Record], on_progress: Callable[[dict[str, int]], None] | None) -> None:
        """The chunk's files on disk, then the chunk recorded as done: a resumed run starts after it."""
        for w in self.writers.values():
            w.sync()
        self.counters.update(
            {name: w.count for name, w in self.writers.items()},
            pair_stats=self.pair_stats.to_dict(),
            curation=self.curator.totals if self.curator else {},
            rewrite=self.rewriter.totals if self.rewriter else {},
            translation=self.translator.totals if self.translator else {},
            seconds=self.counters["seconds"] + time.perf_counter() - self.started,
        )
        self.started = time.perf_counter()
        record_chunk(self.out, index, self.sent, [p.id for p in chunk], self.counters)
        if on_progress:
            on_progress(
                {
                    "files": self.read_stats.files,
                    "documents": self.read_stats.documents,
                    "segmented": self.segmented.count,
                    "passages": self.sent,
                    "candidates": self.writers["candidates"].count,
                    "kept": self.writers["data"].count,
                }
            )

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.model.close()  # vLLM's engine processes end here, not at interpreter exit

    def finish(self) -> GenerateResult:
        """The dataset folder's final files: formats, stats.json and the card; then the run is done."""
        cfg, writers = self.cfg, self.writers
        stats = RunStats(
            settings=self.settings,
            model=ModelInfo(
                cfg.model,
                self.model.base,
                self.model.template.name,
                self.model.precision,
                cfg.backend,
                getattr(self.model.engine, "notes", None),
            ),
            read=ReadCounts(
                files=self.read_stats.files,
                documents=self.read_stats.documents,
                skipped=dict(self.read_stats.skipped),
                skipped_examples=self.read_stats.examples,
                cleaned=dict(sorted(self.read_stats.cleaned.items())),
            ),
            passages=PassageCounts(
                segmented=self.segmented.count,
                kept=self.sent,
                dropped={k: v for k, v in self.passage_stats.dropped.items() if v},
            ),
            pairs=PairCounts(
                candidates=writers["candidates"].count,
                kept=writers["data"].count,
                dropped={k: v for k, v in self.pair_stats.dropped.items() if v},
                retried=dict(self.counters.get("retried", {})) if cfg.retry else {},
            ),
            generation=GenerationCounts(self.counters["seconds"], self.counters["generated_tokens"]),
            filters={
                "passage": [f.describe() for f in self.passage_filters],
                "pair": [f.describe() for f in self.pair_filters],
            },
            redaction=self.redaction_stats.to_dict(True) if cfg.redact else {"enabled": False},
            threads=self.thread_stats.to_dict() if self.thread_stats is not None else None,
            languages={
                "mix": dict(self.language.mix.most_common()),
                "kept": list(self.language.languages or []) or None,
            },
            decontamination=[s.describe() for s in self.eval_sets],
            curation={**self.curator.summary(), "model": cfg.curate_model} if self.curator else None,
            rewrite={**self.rewriter.summary(), "model": cfg.rewrite} if self.rewriter else None,
            translation={**self.translator.summary(), "model": cfg.translate} if self.translator else None,
        )
        examples = finalize(self.out, stats, cfg.formats)
        mark_done(self.out)
        return GenerateResult(out=self.out, stats=stats.to_dict(), examples=examples)


def _finished(out: Path) -> GenerateResult:
    """A run that completed earlier: report it as it stands."""
    import json

    from .dataset import read_jsonl

    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    examples = [
        {k: r[k] for k in ("instruction", "input", "output")}
        for r in itertools.islice(read_jsonl(out / "data.jsonl"), 3)
    ]
    return GenerateResult(out=out, stats=stats, examples=examples)


def _replay_kept(out: Path, filters: list) -> None:
    """Rebuild the dataset-wide filters' memory (seen instructions) from the pairs that passed
    them before an interruption: those kept, and those that only curation or the translation
    (after them) dropped."""
    path = out / "data.jsonl"
    if not filters or not path.exists() or path.stat().st_size == 0:
        return
    from .dataset import read_jsonl

    rows = itertools.chain(
        read_jsonl(path),
        (
            r
            for r in read_jsonl(out / "rejected.jsonl")
            if r.get("meta", {}).get("rejected_by", "").startswith(("curate_", "translate"))
        ),
    )
    passed = (_as_filtered(Record.from_row(r)) for r in rows)
    for _ in apply_filters(passed, filters, FilterStats()):
        pass


def _as_filtered(record: Record) -> Record:
    """A kept pair as the filters saw it: with its original passage where --rewrite replaced it,
    and its original instruction where --translate did."""
    rewrite = record.meta.get(REWRITE_KEY)
    if rewrite and rewrite.get("kept"):
        record.output = rewrite["original"]
    return untranslated(record)


class Counted:
    """Pass records through, counting them and stamping each with its position in the whole
    (unsharded) passage stream, by which `merge` restores the single-run order."""

    def __init__(self, items: Iterable[Record]) -> None:
        self._items, self.count = items, 0

    def __iter__(self) -> Iterator[Record]:
        for item in self._items:
            item.meta["seq"] = self.count
            self.count += 1
            yield item

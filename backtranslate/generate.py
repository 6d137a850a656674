"""The generate run: corpus -> passages -> candidate instructions -> filtered Alpaca dataset.

Every stage streams: documents are read lazily, passages go to the model in chunks, and each
chunk's candidates, kept pairs and rejects are appended to their files as soon as they exist.
"""

from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import __version__
from .config import GenerateConfig, to_dict
from .corpus import ReadStats, read_corpus
from .dataset import (JsonlWriter, length_stats, read_jsonl, record_row, write_alpaca_json, write_card,
                      write_extra_formats, write_stats)
from .engine import BackwardModel, Decoding
from .errors import UserError
from .filters import FilterStats, apply_filters, default_pair_filters, default_passage_filters
from .passages import TokenMeter, segment_all
from .records import Record

OUTPUTS = ("data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl", "stats.json", "README.md",
           "data.parquet", "hf")


@dataclass
class GenerateResult:
    out: Path
    stats: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)


def prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder; --overwrite clears only what a run writes."""
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise UserError(f"{out} already holds a dataset ({', '.join(existing)}); pass --overwrite or choose another --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in existing:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"Cannot write to output folder {out} ({e.strerror or e}).") from None


def chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def pair_filters(cfg: GenerateConfig) -> list:
    if not cfg.filter:
        return []
    return default_pair_filters(
        instruction_length={"max_words": cfg.max_instruction_words},
        near_duplicate={"threshold": cfg.near_duplicate_threshold},
    )


def generate(cfg: GenerateConfig, on_progress: Callable[[dict[str, int]], None] | None = None) -> GenerateResult:
    """Run the whole pipeline into ``cfg.out``; ``on_progress(counts)`` after each chunk, with the
    documents read, passages segmented, passages sent to the model and pairs kept so far."""
    out = Path(cfg.out)
    read_stats = ReadStats()
    docs = read_corpus(cfg.corpus, text_field=cfg.text_field, id_field=cfg.id_field, stats=read_stats)
    first_doc = next(docs, None)  # fail fast on an unusable corpus before loading the model
    prepare_out(out, cfg.overwrite)
    model = BackwardModel(cfg.model, cfg.template, cfg.precision)
    decoding = Decoding(num_candidates=cfg.num_candidates, greedy=cfg.greedy, temperature=cfg.temperature,
                        top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                        seed=cfg.random_seed)
    started = time.perf_counter()
    passage_stats, pair_stats = FilterStats(), FilterStats()
    writers = {name: JsonlWriter(out / f"{name}.jsonl") for name in ("data", "candidates", "rejected")}

    def reject(stage: str) -> Callable[[Record], None]:
        return lambda r: writers["rejected"].write({**record_row(r), "stage": stage,
                                                    "reason": r.meta.get("reject_reason", "")})

    all_docs = itertools.chain([first_doc] if first_doc else [], docs)
    passages = segment_all(all_docs, TokenMeter(model.tokenizer), cfg.min_tokens, cfg.max_tokens)
    segmented = _Counted(passages)
    passages = apply_filters(segmented, default_passage_filters(), passage_stats, on_reject=reject("passage"))
    if cfg.max_passages:
        passages = itertools.islice(passages, cfg.max_passages)
    filters = pair_filters(cfg)
    kept_passages, generated_tokens = 0, 0
    try:
        # Chunks of several batches: sorting by length inside a chunk removes most padding while
        # memory stays bounded by the chunk, whatever the corpus size.
        for chunk in chunks(passages, cfg.batch_size * 8):
            kept_passages += len(chunk)
            candidates = list(model.generate(chunk, decoding))
            for c in candidates:
                writers["candidates"].write(record_row(c))
                generated_tokens += c.meta["generated_tokens"]
            for pair in apply_filters(candidates, filters, pair_stats, on_reject=reject("pair")):
                writers["data"].write(record_row(pair))
            if on_progress:
                on_progress({"documents": read_stats.documents, "segmented": segmented.count,
                             "passages": kept_passages, "candidates": writers["candidates"].count,
                             "kept": writers["data"].count})
    finally:
        for w in writers.values():
            w.close()
    elapsed = time.perf_counter() - started

    write_alpaca_json(out / "data.jsonl", out / "data.json")
    extra = write_extra_formats(out, cfg.formats)
    kept_rows = list(read_jsonl(out / "data.jsonl"))
    stats = {
        "version": __version__,
        "settings": to_dict(cfg),
        "model": {"spec": cfg.model, "base": model.base, "template": model.template.name,
                  "precision": model.precision},
        "read": {"files": read_stats.files, "documents": read_stats.documents,
                 "skipped": dict(read_stats.skipped)},
        "passages": {"segmented": segmented.count, "kept": kept_passages,
                     "dropped": {k: v for k, v in passage_stats.dropped.items() if v}},
        "pairs": {"candidates": writers["candidates"].count, "kept": len(kept_rows),
                  "rejected": writers["candidates"].count - len(kept_rows),
                  "dropped": {k: v for k, v in pair_stats.dropped.items() if v}},
        "lengths": {"instruction_words": length_stats([len(r["instruction"].split()) for r in kept_rows]),
                    "output_words": length_stats([len(r["output"].split()) for r in kept_rows])},
        "generation": {"seconds": round(elapsed, 1), "generated_tokens": generated_tokens,
                       "tokens_per_second": round(generated_tokens / elapsed, 1) if elapsed else 0.0},
        "files": ["data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl", "stats.json", "README.md"] + extra,
        "filters": {"passage": [f.describe() for f in default_passage_filters()],
                    "pair": [f.describe() for f in filters]},
    }
    examples = [{k: r[k] for k in ("instruction", "input", "output")} for r in kept_rows[:3]]
    write_stats(out, stats)
    write_card(out, stats, examples)
    return GenerateResult(out=out, stats=stats, examples=examples)


class _Counted:
    """Pass records through, counting them (the number of passages before filtering)."""

    def __init__(self, items: Iterable[Record]) -> None:
        self._items, self.count = items, 0

    def __iter__(self) -> Iterator[Record]:
        for item in self._items:
            self.count += 1
            yield item

"""Combine the shard folders of one run into one dataset, as if it had run on one machine.

Shards split passages by stable id, so dataset-wide filters (exact and near-duplicate
instructions, duplicate passages) only saw their own shard; they run again here over the union,
in the order of the original passage stream, so the result matches a single-machine run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .dataset import JsonlWriter, finalize, read_jsonl
from .errors import UserError
from .filters import ExactDuplicate, Filter, FilterStats, Verdict, apply_filters, register
from .records import Record
from .resume import RUN_FILE, fingerprint
from .runstats import PairCounts, RunStats


def shard_folders(out: Path) -> list[Path]:
    return sorted(out.glob("shard-*-of-*"), key=lambda p: int(p.name.split("-")[1]))


def _check(folders: list[Path]) -> dict[str, Any]:
    """All shards of one run, all finished; returns that run's settings."""
    if not folders:
        raise UserError("No shard folders (shard-I-of-N) to merge; pass the --out of a sharded generate run.")
    runs = []
    for folder in folders:
        try:
            runs.append(json.loads((folder / RUN_FILE).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            raise UserError(
                f"{folder} has no readable {RUN_FILE}; is it a shard written by `backtranslate generate`?"
            ) from None
    unsharded = [{**r["settings"], "shard": None} for r in runs]
    if len({fingerprint(s) for s in unsharded}) > 1:
        raise UserError("The shards were made with different settings; merge only shards of one run.")
    counts = {int(r["settings"]["shard"].split("/")[1]) for r in runs}
    seen = sorted(int(r["settings"]["shard"].split("/")[0]) for r in runs)
    total = counts.pop() if len(counts) == 1 else None
    if total is None or seen != list(range(total)):
        raise UserError(f"Shards {seen} do not make a whole run of {total or '?'}; finish or add the missing ones.")
    unfinished = [f.name for f, r in zip(folders, runs) if not r.get("done")]
    if unfinished:
        raise UserError(
            f"Shard(s) {', '.join(unfinished)} did not finish; rerun their generate command to resume them."
        )
    return unsharded[0]


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else iter(())


def merge_filters(settings: dict[str, Any]) -> list[Filter]:
    """The dataset-wide filters of the run's own chain, fresh, rebuilt from its recorded settings:
    a single run would have applied them across all shards at once. A dataset-wide passage filter
    (exact duplicates of the passage text) becomes DuplicatePassage, which keeps every pair of the
    first passage with that text; pair filters run as they are."""
    from .config import GenerateConfig
    from .generate import filter_chain

    known = {f.name for f in dataclasses.fields(GenerateConfig)}
    cfg = GenerateConfig(**{k: v for k, v in settings.items() if k in known})
    chain = filter_chain(cfg, eval_sets=[])  # decontamination is per record: its verdicts hold
    return ([DuplicatePassage()] if chain.dataset_wide("passage") else []) + chain.dataset_wide("pair")


def merge(out: str | Path, folders: list[Path] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = Path(out)
    folders = folders or shard_folders(out)
    settings = _check(folders)
    shard_stats = [RunStats.from_dict(json.loads((f / "stats.json").read_text(encoding="utf-8"))) for f in folders]
    filters = merge_filters(settings)
    filters_stats = FilterStats()
    for name in ("data", "candidates", "rejected"):
        (out / f"{name}.jsonl").write_text("")
    writers = {name: JsonlWriter(out / f"{name}.jsonl") for name in ("data", "candidates", "rejected")}
    try:
        by_seq = lambda row: row["meta"].get("seq", 0)  # noqa: E731
        for name in ("candidates", "rejected"):
            for row in heapq.merge(*(_rows(f / f"{name}.jsonl") for f in folders), key=by_seq):
                writers[name].write(row)
        rows = heapq.merge(*(_rows(f / "data.jsonl") for f in folders), key=by_seq)
        records = (Record.from_row(r) for r in rows)

        def reject(r: Record) -> None:
            writers["rejected"].write(
                {
                    **{k: getattr(r, k) for k in ("instruction", "input", "output", "id")},
                    "meta": r.meta,
                    "stage": "merge",
                    "reason": r.meta["reject_reason"],
                }
            )

        for record in apply_filters(records, filters, filters_stats, on_reject=reject):
            writers["data"].write({**record.to_alpaca(), "id": record.id, "meta": record.meta})
    finally:
        for w in writers.values():
            w.close()
    dropped, retried = Counter(), Counter()
    for shard in shard_stats:
        dropped.update(shard.pairs.dropped)
        retried.update(shard.pairs.retried)
    dropped.update({f"merge:{k}": v for k, v in filters_stats.dropped.items() if v})
    pairs = PairCounts(
        candidates=writers["candidates"].count, kept=writers["data"].count, dropped=dict(dropped), retried=dict(retried)
    )
    stats = RunStats.merged(shard_stats, settings, pairs, list(filters_stats.seen))
    examples = finalize(out, stats, [f for f in settings.get("format", "alpaca").split(",") if f])
    return stats.to_dict(), examples


@register
class DuplicatePassage(Filter):
    """The same passage text under another passage id (in another shard): keeps the first passage's pairs."""

    # Shards cannot see each other's passages, so exact-duplicate passages in different shards
    # each got instructions; this is the merged form of the passage stage's exact_duplicate.

    name = "duplicate_passage"
    dataset_wide = True  # the merged form of the passage stage's exact_duplicate

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def filter(self, record: Record) -> Verdict:
        key = hashlib.blake2b(ExactDuplicate.normalise(record.output).encode("utf-8"), digest_size=16).hexdigest()
        passage = record.meta.get("passage_id", record.id)
        first = self.first.setdefault(key, passage)
        return True if first == passage else (False, f"same passage as {first}")

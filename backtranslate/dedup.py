"""Stage: `backtranslate dedup`: keep the first of each group of exact or near-duplicate pairs
(the filters of filters/ over the fields asked for; MinHash in filters/minhash.py) and write the
deduplicated folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import UserError
from .filters import ExactDuplicate, NearDuplicate
from .filters.minhash import with_progress

FIELDS = ("instruction", "input", "output")


def dedup_filters(fields: Sequence[str], threshold: float) -> list:
    """Exact then near-duplicate filters for each field, each named for its field."""
    unknown = [f for f in fields if f not in FIELDS]
    if unknown or not fields:
        raise UserError(f"Cannot dedup on {', '.join(unknown) or 'no field'}: choose from {', '.join(FIELDS)}.")
    if not 0 < threshold <= 1:
        raise UserError(f"The near-duplicate threshold must be in (0, 1], got {threshold}.")
    filters = []
    for field in fields:
        filters += [
            ExactDuplicate(field=field, name=f"exact_duplicate_{field}"),
            NearDuplicate(field=field, threshold=threshold, name=f"near_duplicate_{field}"),
        ]
    return filters


def dedup_dataset(
    dataset: str,
    out: str,
    fields: Sequence[str] = ("instruction", "output"),
    threshold: float = 0.8,
    formats: Sequence[str] = (),
) -> dict[str, Any]:
    """Keep the first of each group of exact or near-duplicate pairs (on any of ``fields``) and
    write the deduplicated folder: data.json, data.jsonl, rejected.jsonl (each dropped pair with
    the pair it duplicates), stats.json and a card."""
    import time
    from pathlib import Path

    from .dataset import read_card_terms, write_folder
    from .filters import FilterStats, apply_filters
    from .readers.seed import load_pairs

    filters = dedup_filters(fields, threshold)
    records = load_pairs(dataset).records
    target = Path(out)
    stats, rejected = FilterStats(), []
    started = time.perf_counter()
    kept = list(apply_filters(with_progress(records, "dedup"), filters, stats, on_reject=rejected.append))
    seconds = time.perf_counter() - started
    result = {
        "dataset": dataset,
        "fields": list(fields),
        "threshold": threshold,
        "pairs": len(records),
        "kept": len(kept),
        "rejected": len(rejected),
        "dropped": {k: v for k, v in stats.dropped.items() if v},
        "seconds": round(seconds, 2),
        "filters": [f.describe() for f in filters],
    }
    license, language = read_card_terms(dataset)
    result.update(license=license, language=language)
    paragraph = (
        f"Deduplicated from `{dataset}`: {len(kept)} of {len(records)} pairs kept. A pair was dropped when its "
        f"{' or '.join(fields)} repeated an earlier pair's exactly or nearly (MinHash LSH, estimated Jaccard "
        f">= {threshold} over content-word 3-grams); `rejected.jsonl` names the pair each one duplicates."
    )
    card = {"title": "Deduplicated instruction dataset", "paragraphs": [paragraph]}
    write_folder(target, kept, result, card, rejected=rejected, stage="dedup", formats=formats)
    return result

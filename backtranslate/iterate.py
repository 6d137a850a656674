"""`backtranslate iterate`: Humpback's self-training loop over one set of candidate pairs.

    round-0/   forward/: M0, fine-tuned on the seed alone (skipped when --forward-model is given)
    round-K/   curated/: every candidate scored by M(K-1), the best kept; forward/: MK, fine-tuned
               from the base model on seed + those pairs (as Humpback fine-tunes the base each time)
    final/     the candidates curated by the last model: the loop's dataset
    iterate.json, round-K/round.json: inputs, counts, scores and time of each step

A finished step leaves its round.json (or final/stats.json), so running the same command again
after a crash carries on from the first unfinished step; the same folder with other settings is
refused.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from .config import FinetuneConfig, IterateConfig, to_dict
from .curate import SCORERS, curate, write_curated
from .errors import UserError
from .io import write_json_atomic
from .readers.seed import SeedSet, load_pairs, load_seed
from .records import Record

ROUND_FILE = "round.json"
# Settings that do not change what the loop produces.
_NOT_FINGERPRINTED = {"output_dir", "resume_from_checkpoint", "logging_steps", "checkpoint_steps"}


def run_fingerprint(cfg: IterateConfig, candidates: SeedSet, seed: SeedSet) -> str:
    """The settings and the data itself: a changed candidates file under the same name is another run."""
    kept = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_FINGERPRINTED}
    kept["data"] = [candidates.fingerprint, seed.fingerprint]
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _finetune_config(cfg: IterateConfig, output_dir: Path) -> FinetuneConfig:
    names = {f.name for f in dataclasses.fields(FinetuneConfig)}
    values = {k: v for k, v in to_dict(cfg).items() if k in names}
    return FinetuneConfig(**{**values, "output_dir": str(output_dir), "dataset": str(output_dir.parent / "curated")})


def _copies(records: list[Record]) -> list[Record]:
    """Fresh records each round: scores and reject reasons are written into meta."""
    return [
        Record(output=r.output, instruction=r.instruction, input=r.input, id=r.id, meta=dict(r.meta)) for r in records
    ]


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _done(path: Path, fingerprint: str) -> Optional[dict[str, Any]]:
    """A finished step's record when it was made with these settings; refuses other settings."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("fingerprint") != fingerprint:
        raise UserError(
            f"{path.parent} was made by an iterate run with other settings; "
            "pick another --output-dir or delete that folder."
        )
    return record


def _curate(cfg: IterateConfig, candidates: SeedSet, model: str, target: Path) -> tuple[list[Record], dict[str, Any]]:
    started = time.perf_counter()
    scorer = SCORERS[cfg.scorer](model)
    kept, rejected, stats = curate(_copies(candidates.records), scorer, cfg.threshold, cfg.top_fraction)
    del scorer
    _free()
    stats.update(dataset=cfg.dataset, model=model, seconds=round(time.perf_counter() - started, 1))
    write_curated(target, kept, rejected, stats)
    return kept, stats


def _finetune(cfg: IterateConfig, folder: Path, kept: list[Record], seed: SeedSet) -> dict[str, Any]:
    from .train import finetune

    started = time.perf_counter()
    pairs = SeedSet(records=kept, source=str(folder / "curated"), layout="backtranslate")
    result = finetune(_finetune_config(cfg, folder / "forward"), pairs=pairs, seed=seed)
    _free()
    return {
        "train_loss": round(result.train_loss, 4),
        "val_loss": None if result.val_loss is None else round(result.val_loss, 4),
        "train_examples": result.train_examples,
        "val_examples": result.val_examples,
        "skipped": dict(result.skipped),
        "steps": result.steps,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _overlap(a: set[str], b: set[str]) -> Optional[float]:
    return round(len(a & b) / len(a | b), 4) if a | b else None


def iterate(cfg: IterateConfig, on_step: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Run (or carry on with) the loop in ``cfg.output_dir``; returns the summary in iterate.json."""
    out = Path(cfg.output_dir)
    candidates = load_pairs(cfg.dataset, cfg.dataset_fields)
    seed = load_seed(cfg.seed, cfg.fields)
    fingerprint = run_fingerprint(cfg, candidates, seed)
    inputs = {
        "candidates": {"source": cfg.dataset, "pairs": len(candidates.records), "fingerprint": candidates.fingerprint},
        "seed": {"source": seed.source, "pairs": len(seed.records), "fingerprint": seed.fingerprint},
        "base_model": cfg.model,
        "scorer": cfg.scorer,
        "threshold": cfg.threshold,
        "top_fraction": cfg.top_fraction,
        "tags": cfg.tags,
    }
    rounds: list[dict[str, Any]] = []

    model = cfg.forward_model
    if model is None:  # Humpback's M0: the seed alone
        folder = out / "round-0"
        record = _done(folder / ROUND_FILE, fingerprint)
        if record is None:
            on_step("round 0: fine-tune the first forward model on the seed alone")
            training = _finetune(cfg, folder, [], seed)
            record = {
                "round": 0,
                "fingerprint": fingerprint,
                "inputs": inputs,
                "scoring_model": None,
                "counts": {"train_pairs": {"seed": len(seed.records), "generated": 0}},
                "training": training,
                "seconds": {"curate": 0.0, "finetune": training["seconds"]},
                "forward_model": str(folder / "forward"),
            }
            write_json_atomic(folder / ROUND_FILE, record)
        rounds.append(record)
        model = str(folder / "forward")

    previous: Optional[set[str]] = None
    for k in range(1, cfg.rounds + 1):
        folder = out / f"round-{k}"
        record = _done(folder / ROUND_FILE, fingerprint)
        if record is None:
            on_step(f"round {k}: curate {len(candidates.records)} candidates with {model}")
            kept, stats = _curate(cfg, candidates, model, folder / "curated")
            on_step(f"round {k}: fine-tune on {len(seed.records)} seed + {len(kept)} best-scored pairs")
            training = _finetune(cfg, folder, kept, seed)
            record = {
                "round": k,
                "fingerprint": fingerprint,
                "inputs": inputs,
                "scoring_model": model,
                "counts": {
                    "candidates": stats["pairs"],
                    "kept": stats["kept"],
                    "rejected": stats["rejected"],
                    "unparsed": stats["unparsed"],
                    "train_pairs": {"seed": len(seed.records), "generated": len(kept)},
                },
                "scores": {"mean": stats["mean_score"], "cutoff": stats["cutoff"]},
                "kept_ids": sorted(r.id for r in kept),
                "training": training,
                "seconds": {"curate": stats["seconds"], "finetune": training["seconds"]},
                "forward_model": str(folder / "forward"),
            }
            write_json_atomic(folder / ROUND_FILE, record)
        kept_ids = set(record["kept_ids"])
        record["counts"]["kept_overlap_with_previous_round"] = (
            _overlap(kept_ids, previous) if previous is not None else None
        )
        previous = kept_ids
        rounds.append(record)
        model = record["forward_model"]

    final_stats = _final(cfg, candidates, model, out / "final", fingerprint, on_step)
    summary = {
        "fingerprint": fingerprint,
        "settings": to_dict(cfg),
        "inputs": inputs,
        "rounds": [{k: v for k, v in r.items() if k not in ("kept_ids", "inputs", "fingerprint")} for r in rounds],
        "final": {
            "model": model,
            "kept": final_stats["kept"],
            "rejected": final_stats["rejected"],
            "mean_score": final_stats["mean_score"],
            "cutoff": final_stats["cutoff"],
            "seconds": final_stats["seconds"],
            "dataset": str(out / "final"),
            "kept_overlap_with_last_round": _overlap(set(final_stats["kept_ids"]), previous or set()),
        },
    }
    write_json_atomic(out / "iterate.json", summary)
    return summary


def _final(
    cfg: IterateConfig, candidates: SeedSet, model: str, folder: Path, fingerprint: str, on_step: Callable[[str], None]
) -> dict[str, Any]:
    done = _done(folder / ROUND_FILE, fingerprint)
    if done is not None:
        return done
    on_step(f"final: curate {len(candidates.records)} candidates with {model}")
    kept, stats = _curate(cfg, candidates, model, folder)
    record = {**stats, "fingerprint": fingerprint, "kept_ids": sorted(r.id for r in kept)}
    write_json_atomic(folder / ROUND_FILE, record)
    return record

"""Preference data from what a run already has: `--format dpo` and `--format kto`.

Two kinds of pairs, for two different models, in separate files:
- **instructions** (for the backward model): a passage's kept instruction is *chosen*, and an
  instruction the same passage got but the filters, relevance or best-of-K rejected is
  *rejected*; the prompt is the run's reverse-instruction prompt of the passage. They exist where
  a passage had several candidates (`--num-candidates K`) or a rejected one.
- **rewrites** (for the forward model): with `--rewrite`, a faithful rewrite is *chosen* over the
  raw passage it came from, under the pair's instruction (instruction back-and-forth translation
  reports rewritten answers fine-tune better than raw text).

Layouts: TRL's preference layout (`prompt`, `chosen`, `rejected`, strings or, for chat templates,
messages) and LLaMA-Factory's Alpaca ranking layout (`instruction`, `input`, `chosen`,
`rejected`); KTO as TRL's unpaired layout (`prompt`, `completion`, `label`). Every file is
written whole under a temporary name and renamed; formats.py registers the two writers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .io import atomic_open, read_jsonl
from .records import Record
from .rewrite import REWRITE_KEY

DPO_FILES = {"instructions": "dpo/instructions.jsonl", "rewrites": "dpo/rewrites.jsonl"}
RANKING_FILE = "dpo/ranking.json"  # LLaMA-Factory: Alpaca layout with "ranking": true
KTO_FILE = "kto/instructions.jsonl"


def _template(out: Path) -> Any:
    """The reverse template the run prompted with: run.json's setting, else its backward model's
    manifest (train records it), else the seed blog's `reverse`."""
    from . import models
    from .templates import get_template

    settings = (
        json.loads((out / "run.json").read_text(encoding="utf-8")).get("settings", {})
        if (out / "run.json").exists()
        else {}
    )
    name = settings.get("template")
    model = settings.get("model")
    if not name and model and models.is_adapter(model):
        name = models.read_manifest(model).get("template")
    return get_template(name or "reverse")


def instruction_pairs(out: Path) -> Iterator[tuple[Any, str, str]]:
    """(prompt, chosen, rejected) per kept pair and each distinct rejected instruction of its passage."""
    rejected: dict[str, list[str]] = defaultdict(list)
    if (out / "rejected.jsonl").exists():
        for row in read_jsonl(out / "rejected.jsonl"):
            passage = row.get("meta", {}).get("passage_id")
            if row.get("stage") == "pair" and passage and row["instruction"].strip():
                rejected[passage].append(row["instruction"])
    if not rejected:
        return
    template = _template(out)
    for row in read_jsonl(out / "data.jsonl"):
        passage = row.get("meta", {}).get("passage_id")
        losers = list(dict.fromkeys(r for r in rejected.get(passage, ()) if r != row["instruction"]))
        if not losers:
            continue
        record = Record.from_row(row)
        original = row["meta"].get(REWRITE_KEY, {}).get("original")
        if original:  # the backward model was prompted with the passage, not the rewrite
            record.output = original
        prompt = template.prompt(record)
        for loser in losers:
            yield prompt, row["instruction"], loser


def rewrite_pairs(out: Path) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(row, chosen rewrite, rejected passage) for each kept pair whose faithful rewrite was kept."""
    for row in read_jsonl(out / "data.jsonl"):
        rewrite = row.get("meta", {}).get(REWRITE_KEY)
        if rewrite and rewrite.get("kept"):
            yield row, rewrite["text"], rewrite["original"]


def _as_turns(prompt: Any, text: str) -> Any:
    """A completion in the prompt's layout: messages for a chat prompt, text otherwise."""
    return [{"role": "assistant", "content": text}] if isinstance(prompt, list) else text


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_dpo(out: Path) -> None:
    _write_jsonl(
        out / DPO_FILES["instructions"],
        ({"prompt": p, "chosen": _as_turns(p, c), "rejected": _as_turns(p, r)} for p, c, r in instruction_pairs(out)),
    )
    _write_jsonl(
        out / DPO_FILES["rewrites"],
        ({"prompt": _user_turn(row), "chosen": c, "rejected": r} for row, c, r in rewrite_pairs(out)),
    )
    ranking = [
        {"instruction": row["instruction"], "input": row["input"], "chosen": c, "rejected": r}
        for row, c, r in rewrite_pairs(out)
    ]
    with atomic_open(out / RANKING_FILE) as f:
        json.dump(ranking, f, ensure_ascii=False, indent=1)


def write_kto(out: Path) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        seen: set[tuple[str, str]] = set()
        for prompt, chosen, loser in instruction_pairs(out):
            key = json.dumps(prompt, sort_keys=True)
            if (key, chosen) not in seen:
                seen.add((key, chosen))
                yield {"prompt": prompt, "completion": _as_turns(prompt, chosen), "label": True}
            yield {"prompt": prompt, "completion": _as_turns(prompt, loser), "label": False}

    _write_jsonl(out / KTO_FILE, rows())


def _user_turn(row: dict[str, Any]) -> str:
    """The request as the forward model sees it: the instruction, then its input (as formats.py)."""
    return f"{row['instruction']}\n\n{row['input']}" if row["input"] else row["instruction"]


def count_pairs(out: Path) -> dict[str, int]:
    """Preference pairs a folder yields, for the card and the benchmarks."""
    return {"instructions": sum(1 for _ in instruction_pairs(out)), "rewrites": sum(1 for _ in rewrite_pairs(out))}

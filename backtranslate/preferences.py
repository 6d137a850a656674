"""Preference data from what a run already has: `--format dpo` and `--format kto`.

Two kinds of pairs, for two different models, in separate files:
- **instructions** (for the backward model): a passage's kept instruction is *chosen*, and an
  instruction the same passage got but the filters, relevance or best-of-K rejected is
  *rejected*; the prompt is the run's reverse-instruction prompt of the passage. They exist where
  a passage had several candidates (`--num-candidates K`) or a rejected one.
- **rewrites** (for the forward model): with `--rewrite`, a faithful rewrite is *chosen* over the
  raw passage it came from, under the pair's instruction (instruction back-and-forth translation
  reports rewritten answers fine-tune better than raw text).

Layouts, one file each (names below; formats.py describes them in dataset_info.json):
- TRL's preference layout (`prompt`, `chosen`, `rejected`: strings, or messages where the run's
  template is a chat template), the run's exact prompt; `rejected_reason` says what rejected the
  losing side (TRL drops columns it does not use);
- LLaMA-Factory's Alpaca ranking layout (`instruction`, `input`, `chosen`, `rejected`); LLaMA-Factory
  applies its own chat template, so an instruction pair's `instruction` is the chat form of the
  run's reverse prompt (the task sentence and the passage);
- KTO: TRL's unpaired layout (`prompt`, `completion`, `label`) and LLaMA-Factory's Alpaca layout with
  a `kto_tag` column.
Every file is written whole under a temporary name and renamed; formats.py registers the writers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io import atomic_open, read_jsonl
from .records import Record, user_turn
from .rewrite import REWRITE_KEY
from .templates import Template, get_template

# The preference files preferences.py writes (formats.py names the LLaMA-Factory ones in dataset_info.json).
DPO_INSTRUCTIONS = "dpo/instructions.jsonl"  # TRL: the backward model's pairs
DPO_REWRITES = "dpo/rewrites.jsonl"  # TRL: the forward model's pairs (--rewrite)
RANKING_INSTRUCTIONS = "dpo/instructions_ranking.json"  # LLaMA-Factory: Alpaca layout, "ranking": true
RANKING_REWRITES = "dpo/rewrites_ranking.json"
KTO_INSTRUCTIONS = "kto/instructions.jsonl"  # TRL: prompt, completion, label
KTO_TAGGED = "kto/instructions_kto_tag.json"  # LLaMA-Factory: Alpaca layout with a kto_tag column
# The keys of meta[REWRITE_KEY] a rewrite pair is made of (rewrite.py writes them).
REWRITE_TEXT, REWRITE_ORIGINAL, REWRITE_KEPT = "text", "original", "kept"


@dataclass(frozen=True)
class InstructionPair:
    passage: Record  # the kept record with the passage as its output, the way the backward model saw it
    chosen: str  # the kept instruction
    rejected: str  # an instruction the same passage got and lost
    reason: str  # what rejected it (a filter's reason, relevance, best_of_k)


def _templates(out: Path) -> tuple[Template, Template]:
    """The reverse template the run prompted with (run.json's setting, else its backward model's
    manifest, where train records it, else the seed blog's `reverse`), and its chat form, for
    trainers that apply their own chat template."""
    from . import models

    settings = (
        json.loads((out / "run.json").read_text(encoding="utf-8")).get("settings", {})
        if (out / "run.json").exists()
        else {}
    )
    name = settings.get("template")
    model = settings.get("model")
    if not name and model and models.is_adapter(model):
        name = models.read_manifest(model).get("template")
    template = get_template(name or "reverse")
    return template, get_template("chat-titled" if template.titled else "chat")


def instruction_pairs(out: Path) -> Iterator[InstructionPair]:
    """A pair per kept record and each distinct instruction its passage got that was rejected."""
    rejected: dict[str, dict[str, str]] = defaultdict(dict)  # passage -> instruction -> reason
    if (out / "rejected.jsonl").exists():
        for row in read_jsonl(out / "rejected.jsonl"):
            passage = row.get("meta", {}).get("passage_id")
            if row.get("stage") == "pair" and passage and row["instruction"].strip():
                rejected[passage].setdefault(row["instruction"], row.get("reason", ""))
    if not rejected:
        return
    for row in read_jsonl(out / "data.jsonl"):
        losers = rejected.get(row.get("meta", {}).get("passage_id"), {})
        if not any(loser != row["instruction"] for loser in losers):
            continue
        record = Record.from_row(row)
        original = row["meta"].get(REWRITE_KEY, {}).get(REWRITE_ORIGINAL)
        if original:  # the backward model was prompted with the passage, not the rewrite
            record.output = original
        for loser, reason in losers.items():
            if loser != row["instruction"]:
                yield InstructionPair(record, row["instruction"], loser, reason)


def rewrite_pairs(out: Path) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(row, chosen rewrite, rejected passage) for each kept pair whose faithful rewrite was kept."""
    for row in read_jsonl(out / "data.jsonl"):
        rewrite = row.get("meta", {}).get(REWRITE_KEY)
        if rewrite and rewrite.get(REWRITE_KEPT):
            yield row, rewrite[REWRITE_TEXT], rewrite[REWRITE_ORIGINAL]


def _as_turns(prompt: Any, text: str) -> Any:
    """A completion in the prompt's layout: messages for a chat prompt, text otherwise."""
    return [{"role": "assistant", "content": text}] if isinstance(prompt, list) else text


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_json(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """A JSON list (what LLaMA-Factory's Alpaca files are), one row a line, streamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write("[")
        for i, row in enumerate(rows):
            f.write(("," if i else "") + "\n " + json.dumps(row, ensure_ascii=False))
        f.write("\n]\n")


def _chat_request(template: Template, record: Record) -> str:
    """The user message of a chat reverse prompt: what LLaMA-Factory wraps in its own template."""
    return template.prompt(record)[0]["content"]


def _dpo_row(template: Template, p: InstructionPair) -> dict[str, Any]:
    prompt = template.prompt(p.passage)
    return {
        "prompt": prompt,
        "chosen": _as_turns(prompt, p.chosen),
        "rejected": _as_turns(prompt, p.rejected),
        "rejected_reason": p.reason,
    }


def write_dpo(out: Path) -> None:
    """Each file streams from its own pass over the folder (a pass holds only the rejected
    instructions), so a run of any size is written in constant memory."""
    template, chat = _templates(out)
    _write_jsonl(out / DPO_INSTRUCTIONS, (_dpo_row(template, p) for p in instruction_pairs(out)))
    _write_json(
        out / RANKING_INSTRUCTIONS,
        (
            {"instruction": _chat_request(chat, p.passage), "input": "", "chosen": p.chosen, "rejected": p.rejected}
            for p in instruction_pairs(out)
        ),
    )
    _write_jsonl(
        out / DPO_REWRITES,
        ({"prompt": user_turn(row), "chosen": c, "rejected": r} for row, c, r in rewrite_pairs(out)),
    )
    _write_json(
        out / RANKING_REWRITES,
        (
            {"instruction": row["instruction"], "input": row["input"], "chosen": c, "rejected": r}
            for row, c, r in rewrite_pairs(out)
        ),
    )


def _kto_examples(out: Path) -> Iterator[tuple[Record, str, bool]]:
    """(passage, instruction, label): each kept instruction that has a rejected rival once, true,
    and each rival, false."""
    last = ""
    for p in instruction_pairs(out):  # a kept record's pairs come one after another
        if p.passage.id != last:
            last = p.passage.id
            yield p.passage, p.chosen, True
        yield p.passage, p.rejected, False


def write_kto(out: Path) -> None:
    template, chat = _templates(out)

    def trl_row(passage: Record, text: str, label: bool) -> dict[str, Any]:
        prompt = template.prompt(passage)
        return {"prompt": prompt, "completion": _as_turns(prompt, text), "label": label}

    _write_jsonl(out / KTO_INSTRUCTIONS, (trl_row(*example) for example in _kto_examples(out)))
    _write_json(
        out / KTO_TAGGED,
        (
            {"instruction": _chat_request(chat, passage), "input": "", "output": text, "kto_tag": label}
            for passage, text, label in _kto_examples(out)
        ),
    )


def count_pairs(out: Path) -> dict[str, int]:
    """Preference pairs a folder yields, for the benchmarks."""
    return {"instructions": sum(1 for _ in instruction_pairs(out)), "rewrites": sum(1 for _ in rewrite_pairs(out))}


def pair_counts(out: Path, passages: int) -> dict[str, Any]:
    """stats.json's `preferences`: the pairs of each kind, and instruction pairs per 100 passages
    (the passages the backward model wrote instructions for), what a K>1 run yields for DPO."""
    counts = count_pairs(out)
    return {
        "instruction_pairs": counts["instructions"],
        "rewrite_pairs": counts["rewrites"],
        "passages": passages,
        "instruction_pairs_per_100_passages": round(100 * counts["instructions"] / passages, 1) if passages else 0.0,
    }

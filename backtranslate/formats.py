"""Output formats: one registry of the files a dataset folder can hold besides data.jsonl.

Every format is written from the folder's data.jsonl (the records with their provenance), whole,
under a temporary name and renamed. `generate`, `merge`, `curate`, `dedup` and `convert` all
write through `write_formats`, and `--format` takes any name registered here; adding a format
is one function with `@register_format(...)`. Every folder also gets `dataset_info.json`, the
LLaMA-Factory entry of each file that holds rows. A reply of an e-mail thread is written with the
thread's earlier messages as turns (`history_pairs`): Alpaca `history`, ShareGPT and messages turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io import atomic_open, atomic_path, read_jsonl
from .preferences import KTO_TAGGED, RANKING_INSTRUCTIONS, RANKING_REWRITES
from .records import user_turn
from .threads import HISTORY


@dataclass(frozen=True)
class Format:
    name: str
    file: str  # what it adds to the folder ("hf/" is a folder)
    write: Callable[[Path], None]  # writes ``file`` into the folder from its data.jsonl
    help: str


FORMATS: dict[str, Format] = {}
ALWAYS = "alpaca"  # data.json: what every Alpaca loader reads, in every folder


def register_format(name: str, file: str, help: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def add(write: Callable[[Path], None]) -> Callable[[Path], None]:
        FORMATS[name] = Format(name, file, write, help)
        return write

    return add


def write_formats(out: Path, names: list[str] | tuple[str, ...] = ()) -> list[str]:
    """data.json, then each other format asked for, in registry order, then dataset_info.json;
    returns the extra files."""
    FORMATS[ALWAYS].write(out)
    extra = []
    for fmt in FORMATS.values():
        if fmt.name != ALWAYS and fmt.name in names:
            fmt.write(out)
            extra.append(fmt.file)
    write_dataset_info(out)
    return extra + [DATASET_INFO]


# LLaMA-Factory reads a folder through its dataset_info.json (data/README.md of hiyouga/LLaMA-Factory):
# one entry per file, with its layout and column names. Always written: it costs nothing, and
# `llamafactory-cli train ... dataset_dir=<folder> dataset=<name>` then works on any run folder.
DATASET_INFO = "dataset_info.json"
_SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
_OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
_ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}
_RANKING = {
    "formatting": "alpaca",
    "ranking": True,
    "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
}
_LLAMAFACTORY_ENTRIES = (  # (file, name suffix, entry); system and history columns are added where rows have them
    ("data.json", "", {"formatting": "alpaca", "columns": _ALPACA_COLUMNS}),
    (
        "sharegpt.json",
        "_sharegpt",
        {"formatting": "sharegpt", "columns": {"messages": "conversations"}, "tags": _SHAREGPT_TAGS},
    ),
    (
        "messages.jsonl",
        "_messages",
        {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": _OPENAI_TAGS},
    ),
    (RANKING_INSTRUCTIONS, "_dpo_instructions", _RANKING),
    (RANKING_REWRITES, "_dpo_rewrites", _RANKING),
    (KTO_TAGGED, "_kto_instructions", {"formatting": "alpaca", "columns": {**_ALPACA_COLUMNS, "kto_tag": "kto_tag"}}),
)


def dataset_info(out: Path) -> dict[str, Any]:
    """The entries for the files the folder holds, named after the folder."""
    name = out.resolve().name.replace("-", "_") or "backtranslate"
    system = history = False
    if (out / "data.jsonl").exists():
        for i, row in enumerate(read_jsonl(out / "data.jsonl")):
            system = system or (i == 0 and bool(system_of(row)))  # --system-tags gives every row one
            history = history or bool(history_pairs(row))
    info = {}
    for file, suffix, entry in _LLAMAFACTORY_ENTRIES:
        if _has_rows(out / file):
            columns = dict(entry["columns"])
            if system and file in ("data.json", "sharegpt.json"):
                columns["system"] = "system"
            if history and file == "data.json":  # sharegpt and messages hold the turns themselves
                columns["history"] = "history"
            info[f"{name}{suffix}"] = {"file_name": file, **entry, "columns": columns}
    return info


def _has_rows(path: Path) -> bool:
    """Whether a JSON list or JSON lines file holds a row: LLaMA-Factory fails on an empty one
    (its converter reads the first row for the column names), so an empty file gets no entry."""
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as f:
        head = f.read(64).lstrip()
    return bool(head) and not (head.startswith("[") and head[1:].lstrip()[:1] in ("]", ""))


def write_dataset_info(out: Path) -> None:
    with atomic_open(out / DATASET_INFO) as f:
        json.dump(dataset_info(out), f, indent=2)
        f.write("\n")


def output_files() -> tuple[str, ...]:
    """Every file a format can write (a run with --overwrite clears them all)."""
    return (*(f.file.rstrip("/") for f in FORMATS.values()), DATASET_INFO)


def _write_converted(
    jsonl: Path, target: Path, convert: Callable[[dict[str, Any]], dict[str, Any]], as_list: bool
) -> int:
    """``target`` streamed from data.jsonl row by row, under a temporary name, then renamed: a JSON
    list (``as_list``) or JSON lines."""
    n = 0
    with atomic_open(target) as f:
        f.write("[" if as_list else "")
        for row in read_jsonl(jsonl):
            line = json.dumps(convert(row), ensure_ascii=False)
            f.write((("," if n else "") + "\n  " + line) if as_list else line + "\n")
            n += 1
        f.write(("\n]\n" if n else "]\n") if as_list else "")
    return n


def system_of(row: dict[str, Any]) -> dict[str, str]:
    """A record's system line (generate --system-tags: Humpback's tag), as a column where it has one."""
    system = (row.get("meta") or {}).get("system")
    return {"system": system} if system else {}


def history_pairs(row: dict[str, Any]) -> list[list[str]]:
    """An e-mail reply's thread before the message it answers, as [user, assistant] turns.

    The reply is the assistant's answer and its parent (``input``) the user's message, so going
    back up the thread the roles alternate: the message before the parent is the assistant's, the
    one before that the user's. Turns are paired from the parent backwards; where the thread opens
    with an assistant message, it has no user turn to pair with and is left out (LLaMA-Factory and
    chat templates want a conversation to start with the user). Text is the records' own, redacted
    when they were made."""
    earlier = (row.get("meta") or {}).get(HISTORY) or []
    start = len(earlier) % 2  # an odd count opens with an assistant turn
    return [[earlier[i], earlier[i + 1]] for i in range(start, len(earlier) - 1, 2)]


def alpaca(row: dict[str, Any]) -> dict[str, Any]:
    history = history_pairs(row)
    return {
        **{k: row[k] for k in ("instruction", "input", "output")},
        **system_of(row),
        **({"history": history} if history else {}),
    }


def turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(user, assistant) turns: the thread's earlier ones (history_pairs), then the pair itself."""
    return [(u, a) for u, a in history_pairs(row)] + [(user_turn(row), row["output"])]


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT: ``conversations`` of ``from``/``value`` turns, as FastChat, axolotl and
    LLaMA-Factory read it (TRL renames the keys to role/content itself)."""
    conversation = [{"from": who, "value": text} for pair in turns(row) for who, text in zip(("human", "gpt"), pair)]
    return {"conversations": conversation, **system_of(row)}


def messages(row: dict[str, Any]) -> dict[str, Any]:
    """The conversational layout TRL's SFTTrainer takes as it is: ``messages`` of role/content turns."""
    return {
        "messages": [
            {"role": role, "content": text} for pair in turns(row) for role, text in zip(("user", "assistant"), pair)
        ]
    }


@register_format("alpaca", "data.json", "data.json, a list of {instruction, input, output} (always written)")
def write_alpaca(out: Path) -> None:
    _write_converted(out / "data.jsonl", out / "data.json", alpaca, as_list=True)


@register_format("sharegpt", "sharegpt.json", "sharegpt.json, ShareGPT conversations")
def write_sharegpt(out: Path) -> None:
    _write_converted(out / "data.jsonl", out / "sharegpt.json", sharegpt, as_list=True)


@register_format("messages", "messages.jsonl", "messages.jsonl, TRL's conversational layout")
def write_messages(out: Path) -> None:
    _write_converted(out / "data.jsonl", out / "messages.jsonl", messages, as_list=False)


def _alpaca_dataset(out: Path) -> Any:
    from datasets import Dataset

    if (out / "data.json").stat().st_size > 4:
        return Dataset.from_json(str(out / "data.json"))
    return Dataset.from_dict({"instruction": [], "input": [], "output": []})


@register_format("parquet", "data.parquet", "data.parquet, the Alpaca records")
def write_parquet(out: Path) -> None:
    with atomic_path(out / "data.parquet", suffix=".parquet") as tmp:
        _alpaca_dataset(out).to_parquet(str(tmp))


@register_format("hf", "hf/", "hf/, a `datasets.save_to_disk` folder of the Alpaca records")
def write_hf(out: Path) -> None:
    _alpaca_dataset(out).save_to_disk(str(out / "hf"))


@register_format(
    "dpo",
    "dpo/",
    "dpo/, preference pairs: instructions.jsonl, rewrites.jsonl (TRL), *_ranking.json (LLaMA-Factory)",
)
def write_dpo(out: Path) -> None:
    from .preferences import write_dpo as write  # pairs are built there (candidates, rejects, rewrites)

    write(out)


@register_format(
    "kto",
    "kto/",
    "kto/, kept instructions true, rejected false: instructions.jsonl (TRL), instructions_kto_tag.json (LLaMA-Factory)",
)
def write_kto(out: Path) -> None:
    from .preferences import write_kto as write

    write(out)

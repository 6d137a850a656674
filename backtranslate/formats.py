"""Output formats: one registry of the files a dataset folder can hold besides data.jsonl.

Every format is written from the folder's data.jsonl (the records with their provenance), whole,
under a temporary name and renamed. `generate`, `merge`, `curate`, `dedup` and `convert` all
write through `write_formats`, and `--format` takes any name registered here; adding a format
is one function with `@register_format(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io import atomic_open, atomic_path, read_jsonl


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
_LLAMAFACTORY_ENTRIES = (  # (file, name suffix, entry)
    (
        "data.json",
        "",
        {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    ),
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
    (
        "dpo/ranking.json",
        "_dpo_rewrites",
        {
            "formatting": "alpaca",
            "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
        },
    ),
)


def dataset_info(out: Path) -> dict[str, Any]:
    """The entries for the files the folder holds, named after the folder."""
    name = out.resolve().name.replace("-", "_") or "backtranslate"
    first = next(iter(read_jsonl(out / "data.jsonl")), {}) if (out / "data.jsonl").exists() else {}
    system = {"system": "system"} if system_of(first) else {}
    info = {}
    for file, suffix, entry in _LLAMAFACTORY_ENTRIES:
        if (out / file).exists():
            columns = {**entry["columns"], **(system if file in ("data.json", "sharegpt.json") else {})}
            info[f"{name}{suffix}"] = {"file_name": file, **entry, "columns": columns}
    return info


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


def alpaca(row: dict[str, Any]) -> dict[str, str]:
    return {**{k: row[k] for k in ("instruction", "input", "output")}, **system_of(row)}


def user_turn(row: dict[str, Any]) -> str:
    """The request as a user writes it: the instruction, then its input (the e-mail answered)."""
    return f"{row['instruction']}\n\n{row['input']}" if row["input"] else row["instruction"]


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT: ``conversations`` of ``from``/``value`` turns, as FastChat, axolotl and
    LLaMA-Factory read it (TRL renames the keys to role/content itself)."""
    turns = [{"from": "human", "value": user_turn(row)}, {"from": "gpt", "value": row["output"]}]
    return {"conversations": turns, **system_of(row)}


def messages(row: dict[str, Any]) -> dict[str, Any]:
    """The conversational layout TRL's SFTTrainer takes as it is: ``messages`` of role/content turns."""
    return {"messages": [{"role": "user", "content": user_turn(row)}, {"role": "assistant", "content": row["output"]}]}


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
    "dpo", "dpo/", "dpo/, preference pairs: instructions.jsonl, rewrites.jsonl (TRL), ranking.json (LLaMA-Factory)"
)
def write_dpo(out: Path) -> None:
    from .preferences import write_dpo as write  # pairs are built there (candidates, rejects, rewrites)

    write(out)


@register_format("kto", "kto/", "kto/instructions.jsonl, TRL's unpaired layout: kept instructions true, rejected false")
def write_kto(out: Path) -> None:
    from .preferences import write_kto as write

    write(out)

"""Seed pairs: read any common instruction-dataset layout into Records, counting unusable rows.

Layouts are recognised from the column names; ``--fields`` maps columns by hand. Rows without an
instruction or a response are skipped and counted by reason, never fatal; a file with no usable
row at all is an error that says why.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from ..records import Record, fingerprint
from . import sources

DEFAULT_SEED = "default"

# layout name -> (instruction column, input column, output column); checked in this order.
LAYOUTS: dict[str, tuple[str, Optional[str], str]] = {
    "alpaca": ("instruction", "input", "output"),
    "dolly": ("instruction", "context", "response"),
    "self-instruct": ("instruction", None, "instances"),
    "prompt/response": ("prompt", None, "response"),
    "prompt/completion": ("prompt", None, "completion"),
}
_MALFORMED = "malformed JSON line"


@dataclass
class SeedSet:
    records: list[Record]
    source: str
    layout: str
    skipped: Counter = field(default_factory=Counter)
    skipped_lines: list[int] = field(default_factory=list)  # first malformed line numbers, for the message

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.records)


def _read_jsonl(path: Path, skipped: Counter, lines: list[int]) -> Iterator[dict]:
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped[_MALFORMED] += 1
                if len(lines) < 5:
                    lines.append(n)
                continue
            if isinstance(row, dict):
                yield row
            else:
                skipped["row is not a JSON object"] += 1


def _read_json(path: Path, skipped: Counter, lines: list[int]) -> Iterator[dict]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Many ".json" files are really JSON lines; read them as such.
        yield from _read_jsonl(path, skipped, lines)
        return
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    for row in data if isinstance(data, list) else []:
        if isinstance(row, dict):
            yield row
        else:
            skipped["row is not a JSON object"] += 1


def _read_csv(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        yield from csv.DictReader(f)


def _read_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches():
        yield from batch.to_pylist()


TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def _read_table(path: Path, skipped: Counter, lines: list[int]) -> Iterator[dict]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path, skipped, lines)
    if suffix == ".json":
        return _read_json(path, skipped, lines)
    return _read_csv(path) if suffix == ".csv" else _read_parquet(path)


def read_rows(
    spec: str, skipped: Counter, lines: list[int], what: str = "Seed", all_splits: bool = False
) -> Iterator[dict]:
    """The rows of a table file, of every table file in a folder (in path order), of a saved
    dataset folder or of a Hub dataset ``name[:config]`` (sources.py says which). ``what`` names
    the argument in errors; ``all_splits`` reads every split of a dataset, not only train."""
    path = Path(spec).expanduser()
    if spec == DEFAULT_SEED:
        path = Path(str(resources.files("backtranslate") / "data" / "seed.jsonl"))
    if path.is_file():
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise UserError(f"{what} file {spec} has an unknown extension; use .json, .jsonl, .csv or .parquet.")
        return _read_table(path, skipped, lines)
    if sources.is_saved_dataset(path) or sources.hub_name(spec, TABLE_SUFFIXES):
        return sources.load_dataset(spec, what, all_splits=all_splits)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if not files:
            raise UserError(
                f"{what} folder {spec} holds no .json, .jsonl, .csv or .parquet file and is not a saved dataset."
            )
        return (row for file in files for row in _read_table(file, skipped, lines))
    raise UserError(
        f"{what} file {spec} does not exist; pass a JSON/JSONL/CSV/Parquet file, a folder, a dataset name, or 'default'."
    )


def parse_fields(fields: str) -> dict[str, str]:
    """'instruction=question,output=answer' -> {'instruction': 'question', 'output': 'answer'}."""
    mapping = {}
    for part in fields.split(","):
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or key not in ("instruction", "input", "output") or not column:
            raise UserError(f"Bad --fields entry '{part}': write instruction=COLUMN,output=COLUMN[,input=COLUMN].")
        mapping[key] = column
    if "instruction" not in mapping or "output" not in mapping:
        raise UserError("--fields must name at least the instruction and output columns.")
    return mapping


def detect_layout(columns: set[str]) -> Optional[str]:
    for name, (instruction, _, output) in LAYOUTS.items():
        if instruction in columns and output in columns:
            return name
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _to_records(row: dict, layout: str, cols: tuple[str, Optional[str], str], skipped: Counter) -> Iterator[Record]:
    instruction_col, input_col, output_col = cols
    instruction = _text(row.get(instruction_col))
    if layout == "self-instruct":
        instances = row.get(output_col) or []
        pairs = [(_text(i.get("input")), _text(i.get("output"))) for i in instances if isinstance(i, dict)]
        if not pairs:
            skipped["no instances"] += 1
            return
    else:
        pairs = [(_text(row.get(input_col)) if input_col else "", _text(row.get(output_col)))]
    # A `title` column (the shipped seed has one: page > section, or the mail subject) is what the
    # titled reverse templates show above the response.
    title = _text(row.get("title"))
    for context, output in pairs:
        if not instruction:
            skipped["missing instruction"] += 1
        elif not output:
            skipped["empty response"] += 1
        else:
            yield Record(output=output, instruction=instruction, input=context, meta={"title": title} if title else {})


def load_seed(spec: str = DEFAULT_SEED, fields: Optional[str] = None) -> SeedSet:
    skipped: Counter = Counter()
    lines: list[int] = []
    rows = list(read_rows(spec, skipped, lines))
    if not rows:
        what = f"only malformed lines (first at line {lines[0]})" if lines else "no rows"
        raise UserError(f"Seed {spec} has {what}; it needs (instruction, response) pairs.")
    columns = set().union(*(r.keys() for r in rows[:100]))
    if fields:
        mapping = parse_fields(fields)
        missing = [c for c in mapping.values() if c not in columns]
        if missing:
            raise UserError(
                f"--fields names column(s) {', '.join(missing)} that seed {spec} does not have "
                f"(it has: {', '.join(sorted(columns))})."
            )
        layout, cols = "fields", (mapping["instruction"], mapping.get("input"), mapping["output"])
    else:
        layout = detect_layout(columns)
        if layout is None:
            known = "; ".join(f"{n} ({'/'.join(c for c in cols if c)})" for n, cols in LAYOUTS.items())
            raise UserError(
                f"Seed {spec} has columns {', '.join(sorted(columns))}, which match no known layout "
                f"[{known}]; map them with --fields instruction=COLUMN,output=COLUMN."
            )
        cols = LAYOUTS[layout]
    records, seen = [], set()
    for row in rows:
        for record in _to_records(row, layout, cols, skipped):
            if record.id in seen:
                skipped["duplicate pair"] += 1
                continue
            seen.add(record.id)
            records.append(record)
    if not records:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.most_common())
        raise UserError(f"Seed {spec} has no usable pairs ({reasons}).")
    return SeedSet(records=records, source=spec, layout=layout, skipped=skipped, skipped_lines=lines)


def load_pairs(spec: str, fields: Optional[str] = None) -> SeedSet:
    """Pairs to curate or fine-tune on: a dataset folder written by generate, curate or convert
    (its data.jsonl, scores and provenance kept), or a file or dataset in any seed layout."""
    from ..dataset import read_jsonl

    folder = Path(spec).expanduser()
    if not (folder / "data.jsonl").is_file():
        return load_seed(spec, fields)
    records = [Record.from_row(r) for r in read_jsonl(folder / "data.jsonl")]
    if not records:
        raise UserError(f"Dataset {spec} has no pairs (its data.jsonl is empty); nothing to use.")
    return SeedSet(records=records, source=spec, layout="backtranslate")

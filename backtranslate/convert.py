"""`backtranslate convert`: a classic labelled dataset becomes Alpaca records, as the seed blog
starts: one instruction written by the user, each row's text as the input, its label as the output.

Three row shapes, told apart by the values themselves:
- classification: (text, label), the label a string or number; ``--label-names 0=Non-Complaint,1=Complaint``
  names numeric labels;
- phrase extraction: (text, [phrase, ...]); the output lists the phrases;
- token tagging: ([token, ...], [BIO tag, ...]) with ``--tags-column``; the output lists the tagged
  spans (``--entity PER`` keeps one type).

The instruction may name columns of the row (``{topic}``) and ``{labels}``, the label set written
out ("Complaint or Non-Complaint"). Rows without text or label are skipped and counted.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import UserError
from .records import Record


@dataclass
class ConvertSpec:
    instruction: str
    text_column: str = "text"
    label_column: str = "label"
    tags_column: Optional[str] = None
    label_names: dict[str, str] = field(default_factory=dict)
    separator: str = ", "
    empty_output: str = "None"
    entity: Optional[str] = None


def parse_label_names(spec: Optional[str]) -> dict[str, str]:
    """'0=Non-Complaint,1=Complaint' -> {'0': 'Non-Complaint', '1': 'Complaint'}."""
    names = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, name = part.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise UserError(f"Bad --label-names entry '{part}': write VALUE=NAME pairs such as 0=Negative,1=Positive.")
        names[key.strip()] = name.strip()
    return names


def _fields(instruction: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(instruction) if name is not None]
    except ValueError as e:
        raise UserError(
            f"The instruction template is malformed ({e}); write {{column}} for a value and {{{{ for a brace."
        ) from None


def _label_text(value: Any, names: dict[str, str]) -> str:
    if isinstance(value, bool) or isinstance(value, float) and value.is_integer():
        value = int(value)  # CSV and JSON readers disagree on 1 / 1.0 / True
    text = str(value).strip()
    return names.get(text, text)


def bio_spans(tokens: list[Any], tags: list[Any], names: dict[str, str], entity: Optional[str]) -> list[str]:
    """Phrases tagged B-X (I-X)*; a stray I-X opens a span too, as conlleval reads it."""
    spans, current, kind = [], [], None
    for token, tag in zip(tokens, tags):
        tag = _label_text(tag, names)
        prefix, _, label = tag.partition("-")
        if prefix in ("B", "I") and label and not (prefix == "I" and current and label == kind):
            if current:
                spans.append((kind, current))
            current, kind = [str(token)], label
        elif prefix == "I" and current and label == kind:
            current.append(str(token))
        else:
            if current:
                spans.append((kind, current))
            current, kind = [], None
    if current:
        spans.append((kind, current))
    return [" ".join(words) for k, words in spans if entity is None or k == entity]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def _output(row: dict[str, Any], spec: ConvertSpec) -> tuple[Optional[str], Optional[str]]:
    """(output, None) or (None, skip reason)."""
    if spec.tags_column:
        tokens, tags = row.get(spec.text_column), row.get(spec.tags_column)
        if not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
            return None, "tokens and tags are not two lists of one length"
        phrases = bio_spans(tokens, tags, spec.label_names, spec.entity)
        return spec.separator.join(phrases) or spec.empty_output, None
    label = row.get(spec.label_column)
    if isinstance(label, list):
        phrases = [_label_text(p, spec.label_names) for p in label if _text(p)]
        return spec.separator.join(phrases) or spec.empty_output, None
    if label is None or not str(label).strip():
        return None, "missing label"
    return _label_text(label, spec.label_names), None


class _Values(dict):
    """A row's values for the instruction template; a column missing from this row reads empty."""

    def __missing__(self, key: str) -> str:
        return ""


def _label_set(labels: list[str]) -> str:
    """'A', 'A or B', 'A, B or C': for an instruction such as "Classify the review as {labels}."."""
    labels = sorted(set(labels))
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def check_columns(source: str, columns: set[str], spec: ConvertSpec) -> None:
    needed = [("--text-column", spec.text_column)]
    needed.append(("--tags-column", spec.tags_column) if spec.tags_column else ("--label-column", spec.label_column))
    needed += [("the instruction's {" + f + "}", f) for f in _fields(spec.instruction) if f != "labels"]
    missing = [(flag, col) for flag, col in needed if col not in columns]
    if missing:
        what = "; ".join(f"'{col}' (named by {flag})" for flag, col in missing)
        raise UserError(f"{source} has no column {what}; its columns are {', '.join(sorted(columns))}.")


def convert_rows(rows: list[dict[str, Any]], spec: ConvertSpec, source: str) -> tuple[list[Record], Counter, Counter]:
    """Records, skip reasons and the records' label counts (classification only)."""
    outputs = [_output(row, spec) for row in rows]
    classes = [
        out
        for (out, _), row in zip(outputs, rows)
        if out is not None and not spec.tags_column and not isinstance(row.get(spec.label_column), list)
    ]
    label_set = _label_set(classes) if classes else ""  # every label the file uses, for {labels}
    records, skipped, seen = [], Counter(), set()
    for n, (row, (output, reason)) in enumerate(zip(rows, outputs)):
        text = _text(row.get(spec.text_column))
        if reason is None and not text:
            reason = "empty text"
        if reason:
            skipped[reason] += 1
            continue
        values = _Values({k: _text(v) for k, v in row.items() if isinstance(k, str)}, labels=label_set)
        instruction = spec.instruction.format_map(values).strip()
        record = Record(
            output=output,
            instruction=instruction,
            input=text,
            meta={"source": source, "row": n, "label": row.get(spec.tags_column or spec.label_column)},
        )
        if record.id in seen:
            skipped["duplicate row"] += 1
            continue
        seen.add(record.id)
        records.append(record)
    labels = Counter(r.output for r in records) if classes else Counter()
    return records, skipped, labels


def convert(
    source: str,
    out: str,
    spec: ConvertSpec,
    license: str = "other",
    language: str = "en",
    limit: Optional[int] = None,
    formats: Sequence[str] = (),
) -> dict[str, Any]:
    """Convert ``source`` (CSV, JSON, JSONL, Parquet, a saved or Hub dataset) into an Alpaca
    dataset folder: data.json, data.jsonl (with the source row of each record), stats.json, card."""
    import itertools

    from .dataset import write_folder
    from .readers.seed import read_rows

    if "{labels}" in spec.instruction and spec.tags_column:
        raise UserError(
            "{labels} lists classification labels; an extraction instruction names what to extract instead."
        )
    _fields(spec.instruction)
    malformed: Counter = Counter()
    rows = list(itertools.islice(read_rows(source, malformed, []), limit))
    if not rows:
        raise UserError(f"{source} has no rows to convert.")
    check_columns(source, set().union(*(r.keys() for r in rows[:100])), spec)
    records, skipped, labels = convert_rows(rows, spec, source)
    skipped.update(malformed)
    if not records:
        raise UserError(
            f"No row of {source} could be converted ({', '.join(f'{n} {r}' for r, n in skipped.most_common())})."
        )
    kind = "token tagging" if spec.tags_column else "classification" if labels else "phrase extraction"
    stats = {
        "source": source,
        "kind": kind,
        "instruction": spec.instruction,
        "rows": len(rows),
        "kept": len(records),
        "skipped": dict(skipped),
        "labels": dict(labels.most_common(50)),
        "columns": {
            "text": spec.text_column,
            "label": None if spec.tags_column else spec.label_column,
            "tags": spec.tags_column,
        },
        "license": license,
        "language": language,
    }
    label_note = f" Labels: {', '.join(f'{k} ({v})' for k, v in labels.most_common(10))}." if labels else ""
    paragraph = (
        f"Converted from `{source}` ({kind}): {len(records)} of {len(rows)} rows. Each record's instruction is "
        f"\"{spec.instruction}\", its input the row's `{spec.text_column}`, its output the "
        f"{'tagged spans' if spec.tags_column else 'label'}.{label_note}"
    )
    card = {"title": "Converted instruction dataset", "paragraphs": [paragraph], "tags": ("alpaca", "converted")}
    write_folder(Path(out), records, stats, card, formats=formats)
    return stats

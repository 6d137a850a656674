"""Stage: write the dataset folder: Alpaca data.json, data.jsonl with provenance, rejected.jsonl,
stats.json, a dataset card, and optional Parquet / `save_to_disk` copies."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import IO, Any, Iterator

from .io import write_json_atomic, write_text_atomic
from .records import Record


class JsonlWriter:
    """Append records as JSON lines, flushed per write so a crash loses nothing finished."""

    def __init__(self, path: Path, count: int = 0) -> None:
        self.path = path
        self.count = count  # lines written so far, those of earlier (resumed) sessions included
        self._f: IO[str] = path.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        self.count += 1

    def sync(self) -> None:
        """On disk, not just in the OS cache: a chunk is recorded as done only after this."""
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self.sync()
        self._f.close()


def record_row(record: Record) -> dict[str, Any]:
    """A data.jsonl / candidates.jsonl / rejected.jsonl line: the Alpaca fields, then the rest."""
    return {**record.to_alpaca(), "id": record.id, "meta": record.meta}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_alpaca_json(jsonl: Path, target: Path) -> int:
    """data.json (a list of {instruction, input, output}) streamed from data.jsonl, then renamed."""
    tmp = target.with_name(f".{target.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        f.write("[")
        for row in read_jsonl(jsonl):
            alpaca = {k: row[k] for k in ("instruction", "input", "output")}
            f.write(("," if n else "") + "\n  " + json.dumps(alpaca, ensure_ascii=False))
            n += 1
        f.write("\n]\n" if n else "]\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return n


def write_extra_formats(out: Path, formats: list[str]) -> list[str]:
    """Parquet and `datasets.save_to_disk` copies of the Alpaca records."""
    written = []
    if not {"parquet", "hf"} & set(formats):
        return written
    from datasets import Dataset

    ds = Dataset.from_json(str(out / "data.json")) if (out / "data.json").stat().st_size > 4 else \
        Dataset.from_dict({"instruction": [], "input": [], "output": []})
    if "parquet" in formats:
        tmp = out / ".data.parquet.tmp"
        ds.to_parquet(str(tmp))
        os.replace(tmp, out / "data.parquet")
        written.append("data.parquet")
    if "hf" in formats:
        ds.save_to_disk(str(out / "hf"))
        written.append("hf/")
    return written


def length_stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "min": min(values), "median": statistics.median(values),
            "mean": round(statistics.fmean(values), 1), "max": max(values)}


def _curation_lines(curation: dict[str, Any] | None) -> list[str]:
    if not curation:
        return ["- self-curation: none"]
    kept = "all pairs kept, scored" if curation["threshold"] is None else f"kept at score >= {curation['threshold']}"
    return [f"- self-curation: `{curation['scorer']}` scorer with `{curation['model']}`, {kept}; "
            f"mean score {curation['mean_score']}, {curation['unparsed']} unscored of {curation['scored']}"]


def write_card(out: Path, stats: dict[str, Any], examples: list[dict[str, Any]]) -> None:
    """README.md: what made the dataset, what was kept and dropped, and a few records."""
    kept = stats["pairs"]["kept"]
    size = "n<1K" if kept < 1000 else "1K<n<10K" if kept < 10_000 else "10K<n<100K" if kept < 100_000 else "n>100K"
    settings = stats["settings"]
    decoding = "greedy" if settings["greedy"] else \
        f"sampling (top_p {settings['top_p']}, temperature {settings['temperature']})"
    lines = [
        "---",
        "language: [en]",
        "license: other  # the corpus owner's terms apply",
        "task_categories: [text-generation]",
        f"size_categories: [{size}]",
        "tags: [instruction-backtranslation, alpaca, synthetic-instructions]",
        "---",
        "",
        "# Backtranslated instruction dataset",
        "",
        f"Made by [backtranslate](https://pypi.org/project/backtranslate/) {stats['version']}: a backward "
        "model wrote an instruction for each passage of the corpus (instruction backtranslation), and "
        "filters with stated reasons kept the pairs below. `data.json` is Alpaca format "
        "(`instruction`, `input`, `output`); `data.jsonl` adds provenance; `rejected.jsonl` lists every "
        "dropped pair with its reason.",
        "",
        "## Source and settings",
        "",
        f"- corpus: `{settings['corpus']}`",
        f"- backward model: `{settings['model']}` (base `{stats['model']['base']}`, template `{stats['model']['template']}`)",
        f"- decoding: {decoding}, {settings['num_candidates']} candidate(s) per passage, "
        f"max {settings['max_new_tokens']} new tokens",
        f"- passages: {settings['min_tokens']}-{settings['max_tokens']} tokens",
        *_curation_lines(stats.get("curation")),
        "",
        "## Counts",
        "",
        "| stage | count |",
        "| --- | --- |",
        f"| documents read | {stats['read']['documents']} |",
        f"| files skipped | {sum(stats['read']['skipped'].values())} |",
        f"| passages | {stats['passages']['segmented']} |",
        f"| passages kept | {stats['passages']['kept']} |",
        f"| candidates | {stats['pairs']['candidates']} |",
        f"| pairs kept | {kept} |",
        "",
    ]
    dropped = {**stats["passages"]["dropped"], **{f"pair: {k}": v for k, v in stats["pairs"]["dropped"].items()}}
    if dropped:
        lines += ["| dropped by | count |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in dropped.items() if v] + [""]
    if examples:
        lines += ["## Examples", ""]
        for ex in examples:
            output = ex["output"] if len(ex["output"]) < 600 else ex["output"][:600] + " ..."
            lines += [f"**Instruction:** {ex['instruction']}", "", "```text", output, "```", ""]
    write_text_atomic(out / "README.md", "\n".join(lines))


def finalize(out: Path, stats: dict[str, Any], formats: list[str]) -> list[dict[str, Any]]:
    """The final files, each written whole under a temporary name and renamed: data.json,
    extra formats, stats.json (completed here with lengths and the file list) and the card.
    Returns three example records."""
    from . import __version__

    write_alpaca_json(out / "data.jsonl", out / "data.json")
    extra = write_extra_formats(out, formats)
    instruction_words, output_words, examples = [], [], []
    for row in read_jsonl(out / "data.jsonl"):
        instruction_words.append(len(row["instruction"].split()))
        output_words.append(len(row["output"].split()))
        if len(examples) < 3:
            examples.append({k: row[k] for k in ("instruction", "input", "output")})
    stats.update(
        version=__version__,
        lengths={"instruction_words": length_stats(instruction_words), "output_words": length_stats(output_words)},
        files=["data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl", "stats.json", "README.md"] + extra,
    )
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, examples)
    return examples

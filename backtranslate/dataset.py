"""Stage: write the dataset folder: Alpaca data.json, data.jsonl with provenance, rejected.jsonl,
stats.json, a dataset card, and optional chat layouts (ShareGPT, TRL messages), Parquet and
`save_to_disk` copies."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import IO, Any, Callable, Iterator

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
    """A data.jsonl / candidates.jsonl / rejected.jsonl line: the Alpaca fields, then the rest.
    Meta keys starting with "_" are the pipeline's own (the names redaction looks for) and are
    never written."""
    meta = {k: v for k, v in record.meta.items() if not k.startswith("_")}
    return {**record.to_alpaca(), "id": record.id, "meta": meta}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _write_converted(jsonl: Path, target: Path, convert: Callable[[dict[str, Any]], dict[str, Any]],
                     as_list: bool) -> int:
    """``target`` streamed from data.jsonl row by row, under a temporary name, then renamed: a JSON
    list (``as_list``) or JSON lines."""
    tmp = target.with_name(f".{target.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        f.write("[" if as_list else "")
        for row in read_jsonl(jsonl):
            line = json.dumps(convert(row), ensure_ascii=False)
            f.write(((("," if n else "") + "\n  " + line) if as_list else line + "\n"))
            n += 1
        f.write(("\n]\n" if n else "]\n") if as_list else "")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return n


def alpaca(row: dict[str, Any]) -> dict[str, str]:
    return {k: row[k] for k in ("instruction", "input", "output")}


def user_turn(row: dict[str, Any]) -> str:
    """The request as a user writes it: the instruction, then its input (the e-mail answered)."""
    return f"{row['instruction']}\n\n{row['input']}" if row["input"] else row["instruction"]


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT: ``conversations`` of ``from``/``value`` turns, as FastChat, axolotl and
    LLaMA-Factory read it (TRL renames the keys to role/content itself)."""
    return {"conversations": [{"from": "human", "value": user_turn(row)}, {"from": "gpt", "value": row["output"]}]}


def messages(row: dict[str, Any]) -> dict[str, Any]:
    """The conversational layout TRL's SFTTrainer takes as it is: ``messages`` of role/content turns."""
    return {"messages": [{"role": "user", "content": user_turn(row)}, {"role": "assistant", "content": row["output"]}]}


# format name -> (file, row converter, JSON list?)
CHAT_FORMATS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], bool]] = {
    "sharegpt": ("sharegpt.json", sharegpt, True),
    "messages": ("messages.jsonl", messages, False),
}


def write_alpaca_json(jsonl: Path, target: Path) -> int:
    """data.json (a list of {instruction, input, output}) streamed from data.jsonl, then renamed."""
    return _write_converted(jsonl, target, alpaca, as_list=True)


def write_chat_formats(out: Path, formats: list[str]) -> list[str]:
    """sharegpt.json and messages.jsonl, when asked for, beside the Alpaca files."""
    written = []
    for name in formats:
        if name in CHAT_FORMATS:
            file, convert, as_list = CHAT_FORMATS[name]
            _write_converted(out / "data.jsonl", out / file, convert, as_list)
            written.append(file)
    return written


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


def write_card(out: Path, stats: dict[str, Any], examples: list[dict[str, Any]]) -> None:
    """README.md: what made the dataset, what was kept and dropped, and a few records."""
    kept = stats["pairs"]["kept"]
    size = "n<1K" if kept < 1000 else "1K<n<10K" if kept < 10_000 else "10K<n<100K" if kept < 100_000 else "n>100K"
    settings = stats["settings"]
    decoding = "greedy" if settings["greedy"] else \
        f"sampling (top_p {settings['top_p']}, temperature {settings['temperature']})"
    mix = stats.get("languages", {}).get("mix") or {"en": 1}
    lines = [
        "---",
        f"language: [{', '.join(sorted(mix, key=lambda code: -mix[code]))}]",
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
        *_privacy_lines(stats),
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


def _privacy_lines(stats: dict[str, Any]) -> list[str]:
    """How the corpus was made safe and clean: redaction, e-mail threads, languages, decontamination."""
    lines = []
    red = stats.get("redaction")
    if red is not None and red["enabled"]:
        types = ", ".join(f"{k} {v}" for k, v in red["by_type"].items()) or "none found"
        lines.append(f"- redaction: on (`redact: true`); personal data and secrets were replaced with "
                     f"placeholders such as `<PERSON_1>` before generation: {red['total']} replacements in "
                     f"{red['documents_redacted']} of {red['documents']} documents ({types})"
                     + (f"; {red['failed']} documents that could not be redacted were left out"
                        if red.get("failed") else ""))
    elif red is not None:
        lines.append("- redaction: off (`redact: false`, `--no-redact`); the text is as the corpus had it")
    threads = stats.get("threads")
    if threads:
        lines.append(f"- e-mail mode: thread; {threads['replies']} replies paired with the message they answer "
                     f"(`input`), {threads['missing_parent']} replies without their parent, "
                     f"{threads['threads']} threads in {threads['messages']} messages")
    languages = stats.get("languages")
    if languages:
        shown = ", ".join(f"{k} {v}" for k, v in languages["mix"].items()) or "none"
        kept = f"; kept only {', '.join(languages['kept'])}" if languages.get("kept") else ""
        lines.append(f"- languages of the passages (py3langid): {shown}{kept}")
    for eval_set in stats.get("decontamination") or []:
        lines.append(f"- decontaminated against `{eval_set['spec']}` ({eval_set['items']} items; "
                     f"{eval_set['ngram']}-word overlap or MinHash Jaccard >= {eval_set['threshold']})")
    return lines


def finalize(out: Path, stats: dict[str, Any], formats: list[str]) -> list[dict[str, Any]]:
    """The final files, each written whole under a temporary name and renamed: data.json,
    extra formats, stats.json (completed here with lengths and the file list) and the card.
    Returns three example records."""
    from . import __version__

    write_alpaca_json(out / "data.jsonl", out / "data.json")
    extra = write_chat_formats(out, formats) + write_extra_formats(out, formats)
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

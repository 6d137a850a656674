"""Stage: write the dataset folder: Alpaca data.json, data.jsonl with provenance, rejected.jsonl,
stats.json, a dataset card, and optional chat layouts (ShareGPT, TRL messages), Parquet and
`save_to_disk` copies.

The card (README.md) follows the Hugging Face dataset-card conventions: a YAML header with
license, language, task categories and size category (rendered by huggingface_hub's
DatasetCardData), then what made the dataset and a few records."""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .formats import write_formats
from .io import atomic_open, read_jsonl, write_json_atomic, write_text_atomic
from .preferences import pair_counts
from .records import Record
from .runstats import ModelInfo, RunStats
from .tasktypes import task_mix

log = logging.getLogger(__name__)


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


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """A whole JSONL file, streamed to a temporary name and renamed; returns the line count."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def length_stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": max(values),
    }


def _curation_lines(curation: dict[str, Any] | None) -> list[str]:
    if not curation:
        return ["- self-curation: none"]
    kept = "all pairs kept, scored" if curation["threshold"] is None else f"kept at score >= {curation['threshold']}"
    return [
        f"- self-curation: `{curation['scorer']}` scorer with `{curation['model']}`, {kept}; "
        f"mean score {curation['mean_score']}, {curation['unparsed']} unscored of {curation['scored']}"
    ]


def _task_mix_lines(mix: dict[str, Any] | None) -> list[str]:
    """The task mix (tasktypes.py) as two lines, and the collapse warning where there is one."""
    if not mix or not mix["pairs"]:
        return []
    types = ", ".join(f"{t} {n / mix['pairs']:.0%}" for t, n in sorted(mix["types"].items(), key=lambda x: -x[1]))
    lines = [
        f"- task types: {types} (entropy {mix['entropy']} of 1; taxonomy in `backtranslate/tasktypes.py`)",
        f"- most common opening: '{mix['top_opening']}' ({mix['top_opening_share']:.0%} of instructions)",
    ]
    if mix.get("balance"):
        lines.append(
            f"- steered by `--balance {mix['balance']}`: of the candidates near the best relevance, best of K "
            "kept the type furthest under its target share"
        )
    return lines + ([f"- **{mix['warning']}**"] if mix["warning"] else [])


def _rewrite_lines(rewrite: dict[str, Any] | None) -> list[str]:
    if not rewrite:
        return ["- outputs: the passages as they are (no --rewrite)"]
    fell = ", ".join(f"{n} {why}" for why, n in sorted(rewrite["fell_back"].items())) or "none"
    return [
        f"- outputs: rewritten by `{rewrite['model']}` as answers to their instructions; a rewrite is kept "
        f"where the passage supports at least {rewrite['min_support']:.0%} of its claims "
        f"(specifics present, cosine >= {rewrite['min_similarity']}, same negation): "
        f"{rewrite['kept']} of {rewrite['rewritten']} kept; the others keep the passage ({fell}). "
        "Each record's `meta.rewrite` holds the rewrite, the original passage and the check's score"
    ]


def _translation_lines(translation: dict[str, Any] | None) -> list[str]:
    if not translation:
        return []
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(translation["dropped"].items())) or "none"
    per = ", ".join(f"{code} {v['kept']} of {v['translated']}" for code, v in sorted(translation["languages"].items()))
    return [
        f"- instructions: translated into their passage's language by `{translation['model']}` where the "
        f"backward model wrote another: {translation['kept']} of {translation['translated']} kept ({per or 'none'}); "
        f"dropped: {dropped}. Each record's `meta.translation` holds the instruction before translation"
    ]


def _preference_lines(prefs: dict[str, Any] | None) -> list[str]:
    if not prefs:
        return []
    return [
        f"- preference pairs (`dpo/`, `kto/`): {prefs['instruction_pairs']} instruction pairs, "
        f"{prefs['instruction_pairs_per_100_passages']} per 100 passages (a kept instruction over a rejected one "
        "of the same passage, under the reverse-instruction prompt: they train the **backward** model, "
        f"passage -> instruction); {prefs['rewrite_pairs']} rewrite pairs (a kept rewrite over its passage, "
        "under the instruction: they train the **forward** model)"
    ]


# The Hub's size_categories values, by upper bound.
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)


def size_category(n: int) -> str:
    return next((name for bound, name in _SIZES if n < bound), "n>100M")


BACKTRANSLATION_TAGS = ("instruction-backtranslation", "alpaca", "synthetic-instructions")


def card_header(
    rows: int,
    pretty_name: str,
    tags: Iterable[str],
    license: str = "other",
    language: str | list[str] = "en",
    data_files: str = "data.json",
) -> str:
    """The YAML front matter of a dataset card. ``configs`` points the Hub viewer and
    ``load_dataset(folder)`` at the Alpaca file (hub.py repoints it at the pushed Parquet)."""
    from huggingface_hub import DatasetCardData

    extra = {"license_name": "corpus-terms"} if license == "other" else {}  # the Hub asks a name for 'other'
    data = DatasetCardData(
        language=[language] if isinstance(language, str) else language,
        license=license,
        task_categories=["text-generation"],
        size_categories=[size_category(rows)],
        pretty_name=pretty_name,
        tags=list(tags),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": data_files}]}],
        **extra,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def _license_note(license: str) -> list[str]:
    if license != "other":
        return []
    return [
        "License: the terms of the source corpus apply (`license: other`, `license_name: corpus-terms`); "
        "pass `--license` (a Hub license id such as `cc-by-4.0`) when they are known.",
        "",
    ]


def _examples_section(examples: list[dict[str, Any]]) -> list[str]:
    lines = ["## Examples", ""] if examples else []
    for ex in examples:
        output = ex["output"] if len(ex["output"]) < 600 else ex["output"][:600] + " ..."
        instruction = ex["instruction"] + (f"\n\n{ex['input']}" if ex.get("input") else "")
        lines += [f"**Instruction:** {instruction}", "", "```text", output, "```", ""]
    return lines


def read_card_terms(dataset: str | Path) -> tuple[str, str]:
    """(license, language) a dataset folder's stats.json recorded, so a dataset made from it keeps them."""
    try:
        stats = json.loads((Path(dataset) / "stats.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "other", "en"
    terms = {**stats, **stats.get("settings", {})}
    return terms.get("license") or "other", terms.get("language") or "en"


def write_simple_card(
    out: Path,
    title: str,
    rows: int,
    paragraphs: list[str],
    examples: list[dict[str, Any]],
    tags: Iterable[str] = BACKTRANSLATION_TAGS,
    license: str = "other",
    language: str = "en",
) -> None:
    """README.md for a dataset made from another one (curate, convert, dedup)."""
    from . import __version__

    lines = [
        card_header(rows, title, tags, license, language),
        f"# {title}",
        "",
        f"Made by [backtranslate](https://pypi.org/project/backtranslate/) {__version__}. `data.json` is "
        "Alpaca format (`instruction`, `input`, `output`) and loads with "
        "`datasets.load_dataset(\"json\", data_files=\"data.json\")`.",
        "",
    ]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    lines += _license_note(license)
    write_text_atomic(out / "README.md", "\n".join(lines + _examples_section(examples)))


def write_folder(
    target: Path,
    kept: list[Record],
    stats: dict[str, Any],
    card: dict[str, Any],
    rejected: list[Record] | None = None,
    stage: str = "",
    formats: Iterable[str] = (),
) -> None:
    """A dataset folder made from another dataset (curate, dedup, convert): data.jsonl with each
    record's provenance, rejected.jsonl with each reason (when given), data.json and any other
    format asked for, stats.json and a card (``card``: write_simple_card's title and paragraphs,
    and its tags when not the default). Each file is written whole and renamed."""
    target.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(target / "data.jsonl", (record_row(r) for r in kept))
    if rejected is not None:
        write_jsonl_atomic(
            target / "rejected.jsonl",
            ({**record_row(r), "stage": stage, "reason": r.meta["reject_reason"]} for r in rejected),
        )
    write_formats(target, list(formats))
    write_json_atomic(target / "stats.json", stats)
    write_simple_card(
        target,
        rows=len(kept),
        examples=[r.to_alpaca() for r in kept[:3]],
        license=stats.get("license", "other"),
        language=stats.get("language", "en"),
        **card,
    )


def write_card(out: Path, stats: RunStats, examples: list[dict[str, Any]]) -> None:
    """README.md: what made the dataset, what was kept and dropped, and a few records."""
    kept = stats.pairs.kept
    settings = stats.settings
    decoding = (
        "greedy"
        if settings["greedy"]
        else f"sampling (top_p {settings['top_p']}, temperature {settings['temperature']})"
    )
    mix = (stats.languages or {}).get("mix") or {}
    language = sorted(mix, key=lambda code: -mix[code]) or settings.get("language") or "en"
    license = settings.get("license") or "other"
    lines = [
        card_header(kept, "Backtranslated instructions", BACKTRANSLATION_TAGS, license, language),
        "# Backtranslated instruction dataset",
        "",
        f"Made by [backtranslate](https://pypi.org/project/backtranslate/) {stats.version}: a backward "
        "model wrote an instruction for each passage of the corpus (instruction backtranslation), and "
        "filters with stated reasons kept the pairs below. `data.json` is Alpaca format "
        "(`instruction`, `input`, `output`); `data.jsonl` adds provenance; `rejected.jsonl` lists every "
        "dropped pair with its reason.",
        "",
        "## Source and settings",
        "",
        f"- corpus: `{settings['corpus']}`",
        f"- backward model: `{settings['model']}` (base `{stats.model.base}`, template `{stats.model.template}`)",
        *_server_lines(stats.model),
        f"- decoding: {decoding}, {settings['num_candidates']} candidate(s) per passage, "
        f"max {settings['max_new_tokens']} new tokens",
        f"- passages: {settings['min_tokens']}-{settings['max_tokens']} tokens",
        *_hygiene_lines(stats),
        *_curation_lines(stats.curation),
        *_rewrite_lines(stats.rewrite),
        *_translation_lines(stats.translation),
        *_task_mix_lines(stats.task_mix),
        *_preference_lines(stats.preferences),
        *_privacy_lines(stats),
        "",
        "## Counts",
        "",
        "| stage | count |",
        "| --- | --- |",
        f"| documents read | {stats.read.documents} |",
        f"| files skipped | {sum(stats.read.skipped.values())} |",
        f"| passages | {stats.passages.segmented} |",
        f"| passages kept | {stats.passages.kept} |",
        f"| candidates | {stats.pairs.candidates} |",
        f"| pairs kept | {kept} |",
    ]
    if stats.pairs.retried:
        retried = stats.pairs.retried["kept"]
        lines.append(f"| of which kept on retry (sampled, after the greedy instruction was dropped) | {retried} |")
    lines.append("")
    dropped = {**stats.passages.dropped, **{f"pair: {k}": v for k, v in stats.pairs.dropped.items()}}
    if dropped:
        lines += (
            ["| dropped by | count |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in dropped.items() if v] + [""]
        )
    lines += _license_note(license) + _examples_section(examples)
    write_text_atomic(out / "README.md", "\n".join(lines))


def _server_lines(model: ModelInfo) -> list[str]:
    """--backend openai: which server model wrote the instructions, and what the server ignored."""
    if not model.server:
        return []
    ignored = "; ".join(model.server.get("ignored") or [])
    return [
        f"- served by an OpenAI-compatible server as `{model.server['served_model']}` "
        f"(prompts sent as {model.server['prompts']}{'; ' + ignored if ignored else ''})"
    ]


def _hygiene_lines(stats: RunStats) -> list[str]:
    """What cleaning removed from the documents, how patches were treated, relevance and confidence."""
    settings = stats.settings
    lines = []
    cleaned = stats.read.cleaned or {}
    if cleaned:
        lines.append("- cleaning: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in cleaned.items()))
    if "patches" in settings:
        lines.append(f"- patch mails: {settings['patches']} (`--patches`)")
    if settings.get("relevance"):
        threshold = next((f.get("threshold") for f in stats.filters["pair"] if f["name"] == "relevance"), None)
        lines.append(
            f"- relevance: on, {settings.get('relevance_scorer')} scorer, pairs below {threshold} dropped "
            "(`--no-relevance` turns it off); each pair's score is in `meta.relevance`"
        )
    elif "relevance" in settings:
        lines.append("- relevance: off (`--no-relevance`)")
    confidence = next((f for f in stats.filters["pair"] if f["name"] == "confidence"), None)
    if confidence:
        lines.append(
            f"- confidence: on, pairs whose instruction the backward model scored below {confidence['threshold']} "
            "dropped (`--no-confidence` turns it off); each pair's score is in `meta.confidence`"
        )
    elif settings.get("confidence") is False:
        lines.append("- confidence: off (`--no-confidence`)")
    return lines


def _privacy_lines(stats: RunStats) -> list[str]:
    """How the corpus was made safe and clean: redaction, e-mail threads, languages, decontamination."""
    lines = []
    red = stats.redaction
    if red is not None and red["enabled"]:
        types = ", ".join(f"{k} {v}" for k, v in red["by_type"].items()) or "none found"
        lines.append(
            f"- redaction: on (`redact: true`); personal data and secrets were replaced with "
            f"placeholders such as `<PERSON_1>` before generation: {red['total']} replacements in "
            f"{red['documents_redacted']} of {red['documents']} documents ({types})"
            + (f"; {red['failed']} documents that could not be redacted were left out" if red.get("failed") else "")
        )
    elif red is not None:
        lines.append("- redaction: off (`redact: false`, `--no-redact`); the text is as the corpus had it")
    threads = stats.threads
    if threads:
        lines.append(
            f"- e-mail mode: {stats.settings.get('email_mode', 'thread')}; {threads['replies']} replies paired with the message they answer "
            f"(`input`), {threads['missing_parent']} replies without their parent, "
            f"{threads['threads']} threads in {threads['messages']} messages"
        )
    languages = stats.languages
    if languages:
        shown = ", ".join(f"{k} {v}" for k, v in languages["mix"].items()) or "none"
        kept = f"; kept only {', '.join(languages['kept'])}" if languages.get("kept") else ""
        lines.append(f"- languages of the passages (py3langid): {shown}{kept}")
    for eval_set in stats.decontamination or []:
        lines.append(
            f"- decontaminated against `{eval_set['spec']}` ({eval_set['items']} items; "
            f"{eval_set['ngram']}-word overlap or MinHash Jaccard >= {eval_set['threshold']})"
        )
    return lines


def finalize(out: Path, stats: RunStats, formats: list[str]) -> list[dict[str, Any]]:
    """The final files, each written whole under a temporary name and renamed: data.json,
    extra formats, stats.json (completed here with lengths and the file list) and the card.
    Returns three example records."""
    from . import __version__

    extra = write_formats(out, formats)
    instruction_words, output_words, examples, instructions = [], [], [], []
    primed = 0
    for row in read_jsonl(out / "data.jsonl"):
        instructions.append(row["instruction"])
        primed += bool(row.get("meta", {}).get("primer"))
        instruction_words.append(len(row["instruction"].split()))
        output_words.append(len(row["output"].split()))
        if len(examples) < 3:
            examples.append({k: row[k] for k in ("instruction", "input", "output")})
    stats.version = __version__
    stats.lengths = {"instruction_words": length_stats(instruction_words), "output_words": length_stats(output_words)}
    stats.task_mix = task_mix(instructions, stats.settings.get("balance"), primed)
    if {"dpo", "kto"} & set(formats):
        stats.preferences = pair_counts(out, stats.passages.kept)
    if stats.task_mix["warning"]:
        log.warning(stats.task_mix["warning"])
    stats.files = ["data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl", "stats.json", "README.md"] + extra
    write_json_atomic(out / "stats.json", stats.to_dict())
    write_card(out, stats, examples)
    return examples

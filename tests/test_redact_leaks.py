"""No planted value leaks: the planted corpus (over 300 items of every kind, across .eml, .mbox,
.md, .html and .jsonl) through the real `backtranslate generate` CLI on the tiny backward model,
in both e-mail modes and every output format. Every file of the output folder, the printed
output and every log record are searched for every value; a --no-redact run shows that the same
search finds them when they are there."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import planted_pii
import pytest
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.redact import TYPES

runner = CliRunner()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted") / "corpus"
    items = planted_pii.build(folder)
    # A broken message, so that the run logs something (its skip) for the log search to read.
    (folder / "mail" / "broken.eml").write_bytes(b"Content-Type: multipart/mixed; boundary=XYZ\n\ncut off\n")
    return folder, items


def test_the_planted_corpus_has_every_kind_in_every_format(planted):
    _, items = planted
    assert len(items) >= 200
    assert set(Counter(i.type for i in items)) == set(TYPES)
    formats = Counter(i.where.split("#")[0].rsplit(".", 1)[-1] for i in items)
    assert set(formats) == {"eml", "mbox", "md", "html", "jsonl"}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _generate(corpus: Path, out: Path, model: Path, *extra: str) -> dict:
    """The CLI run with every logger at DEBUG, its log records kept."""
    root, handler = logging.getLogger(), _Records()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = runner.invoke(
            app,
            [
                "generate",
                "--corpus",
                str(corpus),
                "--model",
                str(model),
                "--out",
                str(out),
                "--greedy",
                "--max-new-tokens",
                "6",
                "--batch-size",
                "16",
                "--precision",
                "fp32",
                *extra,
            ],
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    files = {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }
    return {
        "files": files,
        "output": result.output,
        "logs": "\n".join(handler.lines),
        "stats": json.loads(files["stats.json"]),
    }


def leaks(text: str, items: list[planted_pii.Planted]) -> list[str]:
    """Planted values (JSON-escaped too) and planted first or last names (whole words, any case) in text."""
    found = []
    for item in items:
        if item.type == "PERSON":
            continue
        if item.value in text or json.dumps(item.value)[1:-1] in text:
            found.append(f"{item.type} {item.value!r}")
    for token in planted_pii.name_tokens(items):
        if re.search(rf"(?<!\w){re.escape(token)}(?!\w)", text, re.IGNORECASE):
            found.append(f"PERSON {token!r}")
    return found


@pytest.fixture(scope="module", params=["message", "thread"])
def run(request, planted, tiny_adapter, tmp_path_factory):
    """Unfiltered, so that every pair reaches every file (the tiny model's instructions fail the
    pair filters); an evaluation set overlapping one stock sentence puts quoting rejects beside
    the passage-length ones in rejected.jsonl."""
    corpus, items = planted
    folder = tmp_path_factory.mktemp(f"redacted-{request.param}")
    (folder / "bench.jsonl").write_text(json.dumps({"question": planted_pii.NEGATIVES[1], "answer": "closed"}) + "\n")
    return {
        "mode": request.param,
        "items": items,
        **_generate(
            corpus,
            folder / "dataset",
            tiny_adapter,
            "--email-mode",
            request.param,
            "--no-filter",
            "--format",
            "alpaca,sharegpt,messages",
            "--decontaminate",
            str(folder / "bench.jsonl"),
        ),
    }


def test_no_planted_value_reaches_any_output_file_the_printout_or_the_logs(run):
    expected = {
        "data.json",
        "data.jsonl",
        "candidates.jsonl",
        "rejected.jsonl",
        "stats.json",
        "README.md",
        "sharegpt.json",
        "messages.jsonl",
        "run.json",
        "progress.jsonl",
    }
    assert expected <= set(run["files"])
    for name, text in run["files"].items():
        assert not leaks(text, run["items"]), f"{name} leaks {leaks(text, run['items'])[:5]}"
    assert not leaks(run["output"], run["items"])
    assert "skipped mail/broken.eml" in run["logs"] and not leaks(run["logs"], run["items"])


def test_every_output_was_made_from_the_redacted_text(run):
    rows = [json.loads(line) for line in run["files"]["data.jsonl"].splitlines()]
    rejected = [json.loads(line) for line in run["files"]["rejected.jsonl"].splitlines()]
    assert rows and "contaminated" in (reasons := {r["reason"].split(":")[0] for r in rejected})
    assert reasons <= {"passage_length", "contaminated", "standalone"}
    placeholders = re.compile(r"<(PERSON|EMAIL|PHONE|IP_ADDRESS|CREDIT_CARD|IBAN|URL|API_KEY|PASSWORD)_\d+>")
    assert sum(bool(placeholders.search(r["output"])) for r in rows) > len(rows) // 2
    for row in rows:  # each record counts its own redactions by type, never a value
        counts = row["meta"]["redactions"]
        assert set(counts) <= set(TYPES) and all(isinstance(n, int) for n in counts.values())
        assert "_names" not in row["meta"]
        assert not row["meta"].get("message_id") or row["meta"]["message_id"].startswith("msg-")


def test_totals_by_type_are_in_stats_the_card_and_the_summary(run):
    red = run["stats"]["redaction"]
    assert red["enabled"] is True and set(red["by_type"]) == set(TYPES)
    assert red["total"] == sum(red["by_type"].values()) >= 200
    assert f"{red['total']} replacements" in run["files"]["README.md"] and "`redact: true`" in run["files"]["README.md"]
    assert f"redaction: {red['total']} replacements" in run["output"].replace("\n", " ")


def test_thread_mode_pairs_replies_with_the_redacted_message_they_answer(run):
    rows = [json.loads(line) for line in run["files"]["data.jsonl"].splitlines()]
    replies = [r for r in rows if r["input"]]
    if run["mode"] == "message":  # the default: one message per record, as before
        assert run["stats"]["threads"] is None and not replies
        return
    threads = run["stats"]["threads"]
    assert threads["replies"] == 11 and threads["missing_parent"] == 0  # 8 replies in .eml, 3 in the .mbox
    assert replies and all(r["meta"]["email_mode"] == "thread" for r in replies)
    assert all("<PERSON_" in r["input"] for r in replies)


def test_without_redaction_the_same_search_finds_the_values(planted, tiny_adapter, tmp_path):
    corpus, items = planted
    run = _generate(corpus, tmp_path / "plain", tiny_adapter, "--no-redact", "--no-filter", "--max-passages", "8")
    assert leaks(run["files"]["data.jsonl"], items)
    assert run["stats"]["redaction"] == {"enabled": False} and "`redact: false`" in run["files"]["README.md"]
    assert "_names" not in run["files"]["data.jsonl"]

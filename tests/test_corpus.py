"""Corpus reading: every format on a good file and on broken ones, each skip checked by its reason."""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest

from backtranslate.errors import UserError
from backtranslate.readers.corpus import ReadStats, read_corpus

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "corpora"

REPLY = b"""\
From: Ana Lopez <ana@example.com>
To: Ben Okoye <ben@example.com>
Subject: Re: Quarterly report
Date: Tue, 07 Jan 2025 10:00:00 +0000
Message-ID: <reply-1@example.com>
In-Reply-To: <original-1@example.com>
Content-Type: text/plain; charset="utf-8"

Hi Ben,

The numbers look right to me. Ship it on Friday.

On Mon, 6 Jan 2025 at 09:12, Ben Okoye <ben@example.com> wrote:
> Can you check the totals in the quarterly report?
> The QUOTED-TEXT is here.

Ana

--
Ana Lopez
SIGNATURE-LINE +1 555 0100
"""


def read(spec: Path | str, **kwargs) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_corpus(str(spec), stats=stats, **kwargs)), stats


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def mail(subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.get("sender", "Ana <ana@example.com>")
    msg["To"] = "Ben <ben@example.com>"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


# --- plain text --------------------------------------------------------------------------------


def test_txt_and_markdown_are_read_as_is(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "Plain notes about the VPN.\n")
    write(tmp_path, "guide.MD", "# Guide\n\nStep one.\n")
    write(tmp_path, "sub/more.markdown", "More *markdown*.\n")
    records, stats = read(tmp_path)
    by_source = {r.meta["source"]: r for r in records}
    assert by_source["notes.txt"].output == "Plain notes about the VPN.\n"
    assert by_source["guide.MD"].meta["format"] == "md"
    assert by_source["sub/more.markdown"].output == "More *markdown*.\n"
    assert (stats.files, stats.documents, sum(stats.skipped.values())) == (3, 3, 0)
    assert all(r.meta["row"] == 0 for r in records)


def test_utf8_and_utf16_with_bom_are_decoded(tmp_path: Path) -> None:
    write(tmp_path, "bom8.txt", "\ufeffCafé au lait".encode("utf-8"))
    write(tmp_path, "le16.txt", "\ufeffCafé in UTF-16".encode("utf-16-le"))
    write(tmp_path, "be16.txt", "Crème in UTF-16".encode("utf-16"))  # Python writes its own BOM
    records, _ = read(tmp_path)
    assert sorted(r.output for r in records) == ["Café au lait", "Café in UTF-16", "Crème in UTF-16"]


def test_invalid_utf8_garbage_is_skipped_but_one_bad_byte_is_replaced(tmp_path: Path) -> None:
    write(tmp_path, "garbage.txt", bytes(range(0x80, 0x100)) * 20)
    write(tmp_path, "mostly.txt", b"A long enough line of ordinary text, then one bad byte: \xff and more text.\n" * 3)
    records, stats = read(tmp_path)
    assert stats.skipped == {"undecodable text": 1}
    assert stats.examples["undecodable text"] == ["garbage.txt"]
    assert [r.meta["source"] for r in records] == ["mostly.txt"]
    assert "\ufffd and more text" in records[0].output


def test_binary_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64)
    records, stats = read(tmp_path)
    assert records == [] and stats.skipped == {"binary file": 1}


def test_empty_and_whitespace_only_documents_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "empty.txt", "")
    write(tmp_path, "blank.md", " \n\t\n")
    records, stats = read(tmp_path)
    assert records == [] and stats.skipped == {"empty": 2}


def test_file_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "x" * 2000)
    write(tmp_path, "big.jsonl", json.dumps({"text": "x" * 2000}) + "\n")  # streamed, so exempt
    records, stats = read(tmp_path, max_file_bytes=1000)
    assert stats.skipped == {"file too large": 1}
    assert [r.meta["source"] for r in records] == ["big.jsonl"]


# --- e-mail ------------------------------------------------------------------------------------


def test_eml_keeps_subject_and_own_words_only(tmp_path: Path) -> None:
    write(tmp_path, "reply.eml", REPLY)
    [record], _ = read(tmp_path)
    assert record.output == (
        "Subject: Re: Quarterly report\n\nHi Ben,\n\nThe numbers look right to me. Ship it on Friday.\n\nAna"
    )
    assert record.meta["format"] == "eml"
    assert record.meta["from"] == "Ana Lopez <ana@example.com>"
    assert record.meta["to"] == "Ben Okoye <ben@example.com>"
    assert record.meta["date"] == "Tue, 07 Jan 2025 10:00:00 +0000"
    assert record.meta["message_id"] == "<reply-1@example.com>"
    assert record.meta["in_reply_to"] == "<original-1@example.com>"


def test_wrapped_attribution_line_is_removed_with_its_quote(tmp_path: Path) -> None:
    body = (
        "Agreed, let's do that.\n\nOn Mon, 6 Jan 2025 at 09:12, Ben Okoye\n<ben@example.com> wrote:\n\n"
        "> Shall we move the meeting?\n"
    )
    write(tmp_path, "wrapped.eml", mail("Re: Meeting", body).as_bytes())
    [record], _ = read(tmp_path)
    assert record.output == "Subject: Re: Meeting\n\nAgreed, let's do that."


def test_message_without_subject_is_its_body(tmp_path: Path) -> None:
    write(tmp_path, "plain.eml", b"From: a@example.com\n\nJust the body.\n")
    [record], _ = read(tmp_path)
    assert record.output == "Just the body." and record.meta["subject"] == ""


def test_eml_attachment_content_is_absent(tmp_path: Path) -> None:
    msg = mail("Metrics", "The numbers are attached.\n")
    msg.add_attachment(b"ATTACHED-METRICS 1,284 tickets\n", maintype="text", subtype="plain", filename="m.txt")
    msg.add_attachment(b"\x89PNG\x00\x00", maintype="image", subtype="png", filename="chart.png")
    write(tmp_path, "metrics.eml", msg.as_bytes())
    [record], _ = read(tmp_path)
    assert record.output == "Subject: Metrics\n\nThe numbers are attached."


def test_multipart_alternative_takes_the_plain_part(tmp_path: Path) -> None:
    msg = mail("Welcome", "Plain version of the welcome.\n")
    msg.add_alternative("<html><body><p>HTML version of the welcome.</p></body></html>", subtype="html")
    write(tmp_path, "welcome.eml", msg.as_bytes())
    [record], _ = read(tmp_path)
    assert record.output == "Subject: Welcome\n\nPlain version of the welcome."


def test_html_only_email_is_turned_into_text(tmp_path: Path) -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Hello <b>team</b> &amp; friends,</p><ul><li>First point</li><li>Second point</li></ul>"
        "<div>On Mon, 6 Jan 2025 at 09:12, Ben wrote:</div>"
        "<blockquote><p>QUOTED-TEXT from Ben</p></blockquote></body></html>"
    )
    msg = mail("Update", "")
    msg.set_content(html, subtype="html")
    write(tmp_path, "html.eml", msg.as_bytes())
    [record], _ = read(tmp_path)
    assert record.output == "Subject: Update\n\nHello team & friends,\n\n- First point\n- Second point"


def test_broken_eml_is_skipped_and_odd_headers_are_tolerated(tmp_path: Path) -> None:
    write(tmp_path, "broken.eml", b"Content-Type: multipart/mixed; boundary=XYZ\n\ntruncated before any part\n")
    write(tmp_path, "noheaders.eml", b"\x00\x01 just bytes, no headers\n")
    write(tmp_path, "odd.eml", b"From: a@example.com\nMessage-ID: <<<>>>\nSubject: Odd\n\nStill readable.\n")
    records, stats = read(tmp_path)
    assert stats.skipped == {"broken e-mail message": 2}
    assert [r.output for r in records] == ["Subject: Odd\n\nStill readable."]
    assert records[0].meta["message_id"] == "<<<>>>"


def test_mbox_reads_good_messages_and_counts_the_broken_one(tmp_path: Path) -> None:
    first = mail("First", "From now on, mail goes here.\n").as_bytes().replace(b"\nFrom now", b"\n>From now")
    broken = b"From: c@example.com\nSubject: Cut off\nContent-Type: multipart/alternative; boundary=B\n\ncut\n"
    second = mail("Second", "Second body.\n\n-- \nSig\n").as_bytes()
    box = b"".join(b"From sender@example.com Mon Jan  6 09:12:00 2025\n" + m + b"\n" for m in (first, broken, second))
    write(tmp_path, "archive.mbox", box)
    records, stats = read(tmp_path)
    assert [(r.meta["row"], r.output) for r in records] == [
        (0, "Subject: First\n\nFrom now on, mail goes here."),  # mbox's ">From " escape undone
        (2, "Subject: Second\n\nSecond body."),
    ]
    assert stats.skipped == {"broken e-mail message": 1}
    assert stats.examples["broken e-mail message"] == ["archive.mbox#1"]
    assert {r.meta["format"] for r in records} == {"mbox"}


# --- HTML --------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html><head><title>Rate limits</title></head><body>
<div class="cookie-notice">This site uses cookies. <a href="/privacy">Learn more</a></div>
<header><nav><a href="/">Home</a> <a href="/pricing">NAV-PRICING</a> <a href="/docs">NAV-DOCS</a>
<a href="/login">Sign in</a></nav></header>
<main><article><h1>Working with rate limits</h1>
<p>The API allows 120 requests per minute per workspace, with short bursts of up to twenty requests
per second. When you exceed the limit, the API answers with HTTP status 429.</p>
<p>Wait for the number of seconds in the Retry-After header before you try again, and add a little
random jitter so that several workers do not all retry at the same moment.</p>
<p>Fetch only what changed since your last sync with the updated_after parameter; most workspaces
change only a small share of their reports each day.</p>
</article></main>
<footer><ul><li><a href="/terms">Terms</a></li><li><a href="/status">Status</a></li></ul>
<p>&copy; 2025 Example Analytics, Inc. All rights reserved.</p></footer>
</body></html>"""


def test_html_keeps_main_text_without_boilerplate(tmp_path: Path) -> None:
    write(tmp_path, "page.HTM", PAGE)
    [record], _ = read(tmp_path)
    assert "120 requests per minute" in record.output and "updated_after" in record.output
    for boilerplate in ("NAV-PRICING", "cookies", "All rights reserved"):
        assert boilerplate not in record.output
    assert record.meta["format"] == "html"


def test_html_records_what_the_page_says_it_is(tmp_path: Path) -> None:
    # og:type is how a page declares itself an article; --prime reads it. A page without one
    # has no pagetype rather than a guessed one.
    article = PAGE.replace("<title>", '<meta property="og:type" content="Article"><title>')
    write(tmp_path, "news.html", article)
    write(tmp_path, "plain.html", PAGE)
    records, _ = read(tmp_path)
    kinds = {r.meta["source"]: r.meta.get("pagetype") for r in records}
    assert kinds == {"news.html": "article", "plain.html": None}


def test_html_without_body_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "shell.html", "<html><head><title>Nothing</title></head><body></body></html>")
    records, stats = read(tmp_path)
    assert records == [] and stats.skipped == {"no main text in HTML": 1}


# --- tables ------------------------------------------------------------------------------------


def test_jsonl_counts_malformed_lines_and_missing_fields(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "First document."}),
        "{not json",
        "",
        json.dumps({"body": "wrong column"}),
        json.dumps({"text": 42}),
        json.dumps(["a list"]),
        json.dumps({"text": "Last document."}),
    ]
    write(tmp_path, "rows.jsonl", "\n".join(lines) + "\n")
    records, stats = read(tmp_path)
    assert [(r.meta["row"], r.output) for r in records] == [(0, "First document."), (6, "Last document.")]
    assert stats.skipped == {"malformed JSON line": 1, "missing text field 'text'": 2, "row is not a JSON object": 1}
    assert stats.examples["malformed JSON line"] == ["rows.jsonl#1"]
    assert records[0].meta["format"] == "jsonl"


def test_text_field_selects_the_column(tmp_path: Path) -> None:
    write(tmp_path, "rows.jsonl", json.dumps({"body": "In the body column."}) + "\n")
    records, _ = read(tmp_path, text_field="body")
    assert [r.output for r in records] == ["In the body column."]


def test_json_list_and_json_lines_named_json(tmp_path: Path) -> None:
    write(tmp_path, "list.json", json.dumps([{"text": "One."}, {"text": "Two."}, {"title": "no text"}]))
    write(tmp_path, "wrapped.json", json.dumps({"data": [{"text": "Wrapped."}]}))
    write(tmp_path, "lines.json", json.dumps({"text": "Line one."}) + "\n" + json.dumps({"text": "Line two."}) + "\n")
    records, stats = read(tmp_path)
    assert [r.output for r in records] == ["Line one.", "Line two.", "One.", "Two.", "Wrapped."]
    assert stats.skipped == {"missing text field 'text'": 1}


def test_csv_with_and_without_the_text_column(tmp_path: Path) -> None:
    write(tmp_path, "good.csv", 'id,text\n7,"A document, with a comma."\n8,\n9,"Multi\nline."\n')
    write(tmp_path, "bad.csv", "title,body\nx,y\nz,w\n")
    records, stats = read(tmp_path)
    assert [(r.output, r.meta["doc_id"]) for r in records] == [
        ("A document, with a comma.", "7"),
        ("Multi\nline.", "9"),
    ]
    assert stats.skipped == {"missing text field 'text'": 1, "empty": 1}
    assert stats.examples["missing text field 'text'"] == ["bad.csv"]


def test_parquet_is_read_in_batches(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"text": [f"Document {i}." for i in range(2500)] + [None], "lang": ["en"] * 2501})
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=1000)
    write(tmp_path, "fake.parquet", b"not parquet at all")
    records, stats = read(tmp_path)
    assert len(records) == 2500 and records[-1].meta["row"] == 2499
    assert records[1234].output == "Document 1234." and records[0].meta["format"] == "parquet"
    assert stats.skipped == {"missing text field 'text'": 1, "broken Parquet file": 1}


def test_own_id_and_id_field_become_doc_id(tmp_path: Path) -> None:
    write(tmp_path, "rows.jsonl", json.dumps({"id": "a-1", "key": "k-9", "text": "Hello."}) + "\n")
    [own], _ = read(tmp_path)
    [chosen], _ = read(tmp_path, id_field="key")
    assert own.meta["doc_id"] == "a-1" and chosen.meta["doc_id"] == "k-9"
    assert own.id != chosen.id  # the doc_id is part of the id


# --- the walk ----------------------------------------------------------------------------------


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    write(tmp_path, "sub/doc.txt", "Inside.")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    stats = ReadStats()
    records = list(itertools.islice(read_corpus(str(tmp_path), stats=stats), 100))
    assert [r.meta["source"] for r in records] == ["sub/doc.txt"]
    assert stats.skipped == {"symlink loop": 1}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    locked = write(tmp_path, "locked.txt", "Secret.")
    write(tmp_path, "open.txt", "Open.")
    locked.chmod(0)
    try:
        records, stats = read(tmp_path)
    finally:
        locked.chmod(0o644)
    assert [r.output for r in records] == ["Open."]
    assert stats.skipped == {"unreadable: permission denied": 1}


def test_permission_error_reason_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write(tmp_path, "locked.txt", "Secret.")
    write(tmp_path, "open.txt", "Open.")
    real_read_bytes = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.name == locked.name:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    records, stats = read(tmp_path)
    assert [r.output for r in records] == ["Open."]
    assert stats.skipped == {"unreadable: permission denied": 1}


def test_folder_linked_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path, "real/doc.txt", "Once.")
    os.symlink(tmp_path / "real", tmp_path / "zz-link")
    records, stats = read(tmp_path)
    assert [r.meta["source"] for r in records] == ["real/doc.txt"]
    assert stats.skipped == {"folder already read through another link": 1}


def test_file_vanishing_mid_run_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "First.")
    doomed = write(tmp_path, "b.txt", "Second.")
    write(tmp_path, "c.txt", "Third.")
    stats = ReadStats()
    stream = read_corpus(str(tmp_path), stats=stats)
    assert next(stream).output == "First."
    doomed.unlink()
    assert [r.output for r in stream] == ["Third."]
    assert stats.skipped == {"unreadable: file vanished": 1}
    assert stats.examples["unreadable: file vanished"] == ["b.txt"]


def test_unsupported_extensions_are_counted_not_logged_each(tmp_path: Path, caplog) -> None:
    for i in range(10):
        write(tmp_path, f"img{i}.png", b"\x89PNG")
    write(tmp_path, "archive.jsonl.gz", b"\x1f\x8b")
    write(tmp_path, "doc.txt", "Kept.")
    with caplog.at_level(logging.DEBUG, logger="backtranslate.readers.corpus"):
        records, stats = read(tmp_path)
    assert len(records) == 1 and stats.files == 12
    assert stats.skipped == {"unsupported extension": 11}
    assert len(stats.examples["unsupported extension"]) == 3
    assert len([r for r in caplog.records if "unsupported extension" in r.getMessage()]) == 3
    assert "skipped 11 unsupported extension" in stats.summary()


def test_order_and_ids_are_stable_across_reads_and_machines(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for name in ("b.txt", "a/z.md", "a/b.txt", "C.txt", "rows.jsonl"):
        write(corpus, name, json.dumps({"text": f"{name} row"}) + "\n" if name.endswith("jsonl") else f"{name} text")
    first, _ = read(corpus)
    moved = shutil.copytree(corpus, tmp_path / "elsewhere" / "corpus")
    second, _ = read(moved)
    assert [r.meta["source"] for r in first] == ["C.txt", "a/b.txt", "a/z.md", "b.txt", "rows.jsonl"]
    assert [r.id for r in first] == [r.id for r in second]
    assert len({r.id for r in first}) == len(first)


def test_single_file_spec_uses_the_file_name_as_source(tmp_path: Path) -> None:
    path = write(tmp_path, "deep/rows.jsonl", json.dumps({"text": "Only row."}) + "\n")
    [record], stats = read(path)
    assert record.meta["source"] == "rows.jsonl" and stats.files == 1


def test_missing_corpus_and_unsupported_single_file_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        read_corpus(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="does not exist"):
        read_corpus("typo/notes.txt")
    with pytest.raises(UserError, match="unsupported extension"):
        read_corpus(str(write(tmp_path, "slides.pdf", b"%PDF")))


def test_unloadable_dataset_name_is_one_clear_error() -> None:
    # The Hub is unreachable from the test machines, so the real `datasets` call fails here; the
    # user gets one sentence naming the corpus instead of a traceback.
    with pytest.raises(UserError, match="nor a loadable Hugging Face dataset"):
        list(read_corpus("nobody-xyz/no-such-corpus"))


# --- the shipped sample corpus -----------------------------------------------------------------


def test_sample_corpus_reads_every_file() -> None:
    records, stats = read(SAMPLE_CORPUS)
    assert sum(stats.skipped.values()) == 0, stats.examples
    sources = [r.meta["source"] for r in records]
    emails = sorted(p.relative_to(SAMPLE_CORPUS).as_posix() for p in SAMPLE_CORPUS.rglob("*.eml"))
    assert emails and all(e in sources for e in emails)
    assert len([r for r in records if r.meta["format"] == "mbox"]) == 8
    pages = [r for r in records if r.meta["format"] == "html"]
    assert len(pages) == len(list(SAMPLE_CORPUS.rglob("*.html"))) > 0
    for page in pages:
        assert len(page.output) > 500 and "©" not in page.output and "All rights reserved" not in page.output
    for message in (r for r in records if r.meta["format"] in ("eml", "mbox")):
        assert message.output.startswith("Subject: ") and "\n>" not in message.output
        assert "wrote:" not in message.output and "\n-- \n" not in message.output

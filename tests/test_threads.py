"""Thread reconstruction across .eml files, a maildir and an .mbox, read out of order and with a
parent missing; maildir folders (cur/, new/) are read in the default mode too."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from backtranslate.readers.corpus import ReadStats, read_corpus
from backtranslate.threads import ThreadStats, thread_records

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "emails"


def message(subject: str, body: str, msg_id: str, parent: str | None = None, refs: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Lopez <ana@example.com>"
    msg["To"] = "Ben Okoye <ben@example.com>"
    msg["Subject"] = subject
    msg["Message-ID"] = msg_id
    if parent:
        msg["In-Reply-To"] = parent
    if refs or parent:
        msg["References"] = refs or parent
    msg.set_content(body)
    return bytes(msg)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    # Sorted reading order: 1-reply comes before 2-root, the message it answers.
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "1-reply.eml").write_bytes(
        message("Re: Offsite", "Thursday works for me.", "<r1@x>", parent="<root-a@x>")
    )
    (tmp_path / "inbox" / "2-root.eml").write_bytes(message("Offsite", "Can we meet on Thursday?", "<root-a@x>"))
    # Its parent <gone@x> was never saved; References still tie it to root A's thread.
    (tmp_path / "inbox" / "3-orphan.eml").write_bytes(
        message("Re: Offsite", "Agreed, and lunch too.", "<orphan@x>", parent="<gone@x>", refs="<root-a@x> <gone@x>")
    )
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    (tmp_path / "Maildir" / "cur" / "1700000000.M1P1.host:2,S").write_bytes(
        message("Re: Offsite", "Lunch is booked.", "<md-1@x>", parent="<orphan@x>")
    )
    (tmp_path / "Maildir" / "new" / "1700000001.M2P2.host").write_bytes(
        message("Budget", "The budget is ready.", "<root-b@x>")
    )
    (tmp_path / "Maildir" / "tmp" / "1700000002.M3P3.host").write_bytes(
        message("Half delivered", "Not yet.", "<tmp@x>")
    )
    # In the .mbox the reply to the reply comes first.
    box = b""
    for data in (
        message("Re: Re: Budget", "Thanks, approved.", "<mb-2@x>", parent="<mb-1@x>", refs="<root-b@x> <mb-1@x>"),
        message("Re: Budget", "Looks right to me.", "<mb-1@x>", parent="<root-b@x>"),
    ):
        box += b"From ana@example.com Mon Jan  6 09:12:00 2025\n" + data + b"\n"
    (tmp_path / "archive.mbox").write_bytes(box)
    (tmp_path / "notes.md").write_text("# Notes\n\nNot mail at all.\n")
    return tmp_path


def test_maildir_cur_and_new_are_read_and_tmp_is_not(corpus):
    stats = ReadStats()
    docs = list(read_corpus(str(corpus), stats=stats))
    maildir = sorted(d.meta["source"] for d in docs if d.meta["format"] == "maildir")
    assert maildir == ["Maildir/cur/1700000000.M1P1.host:2,S", "Maildir/new/1700000001.M2P2.host"]
    assert stats.skipped == {"unsupported extension": 1}
    assert stats.examples["unsupported extension"] == ["Maildir/tmp/1700000002.M3P3.host"]


def test_replies_are_paired_with_their_parents_across_formats_and_order(corpus):
    stats = ThreadStats()
    records = list(thread_records(read_corpus(str(corpus)), stats))
    assert stats.to_dict() == {"messages": 7, "replies": 4, "missing_parent": 1, "threads": 2}
    assert records[0].meta["source"] == "notes.md"  # documents that are not mail stream on at once
    pairs = {r.meta["message_id"]: (r.input, r.output) for r in records if r.input}
    assert pairs == {
        "<r1@x>": ("Subject: Offsite\n\nCan we meet on Thursday?", "Thursday works for me."),
        "<md-1@x>": ("Subject: Re: Offsite\n\nAgreed, and lunch too.", "Lunch is booked."),
        "<mb-1@x>": ("Subject: Budget\n\nThe budget is ready.", "Looks right to me."),
        "<mb-2@x>": ("Subject: Re: Budget\n\nLooks right to me.", "Thanks, approved."),
    }
    by_id = {r.meta["message_id"]: r for r in records if r.meta.get("message_id")}
    orphan = by_id["<orphan@x>"]
    assert orphan.input == "" and orphan.output == "Subject: Re: Offsite\n\nAgreed, and lunch too."
    assert orphan.meta["parent"] == "<gone@x>"
    threads = {mid: r.meta["thread"] for mid, r in by_id.items()}
    assert len({threads[m] for m in ("<root-a@x>", "<r1@x>", "<orphan@x>", "<md-1@x>")}) == 1
    assert len({threads[m] for m in ("<root-b@x>", "<mb-1@x>", "<mb-2@x>")}) == 1
    assert threads["<root-a@x>"] != threads["<root-b@x>"]
    assert by_id["<mb-1@x>"].meta["parent_source"] == "Maildir/new/1700000001.M2P2.host"


def test_the_sample_mail_holds_thirteen_replies_to_messages_it_also_holds():
    stats = ThreadStats()
    records = list(thread_records(read_corpus(str(SAMPLE)), stats))
    assert stats.to_dict() == {"messages": 34, "replies": 13, "missing_parent": 0, "threads": 21}
    assert sum(bool(r.input) for r in records) == 13 and len(records) == 34


# Long enough a message to pass the passage_length filter (20 words) in generate.
PAD = " I will bring the printed agenda, the budget draft and the notes from last week for the team."


def _chain(folder: Path) -> Path:
    """A four-message thread, each message answering the one before, read newest first."""
    bodies = [
        ("Plan", "Can we meet on Thursday, Ben?", "<t0@x>", None, None),
        ("Re: Plan", "Thursday works, Ana. Room 4 at ten?", "<t1@x>", "<t0@x>", None),
        ("Re: Plan", "Room 4 is booked, Ben. Room 2?", "<t2@x>", "<t1@x>", "<t0@x> <t1@x>"),
        ("Re: Plan", "Room 2 at ten then, Ana.", "<t3@x>", "<t2@x>", "<t0@x> <t1@x> <t2@x>"),
    ]
    folder.mkdir()
    for n, (subject, body, msg_id, parent, refs) in enumerate(bodies):
        (folder / f"{9 - n}.eml").write_bytes(message(subject, body + PAD, msg_id, parent=parent, refs=refs))
    return folder


def test_a_reply_carries_its_earlier_thread_redacted_like_the_reply(tmp_path):
    from backtranslate.redact import Redactor

    by_id = {
        r.meta["message_id"]: r for r in thread_records(read_corpus(str(_chain(tmp_path / "mail"))), ThreadStats())
    }
    last = by_id["<t3@x>"]
    assert last.input == "Subject: Re: Plan\n\nRoom 4 is booked, Ben. Room 2?" + PAD
    assert last.meta["history"] == ["Can we meet on Thursday, Ben?" + PAD, "Thursday works, Ana. Room 4 at ten?" + PAD]
    assert by_id["<t2@x>"].meta["history"] == ["Can we meet on Thursday, Ben?" + PAD]
    assert "history" not in by_id["<t1@x>"].meta and "history" not in by_id["<t0@x>"].meta
    # Redaction replaces the names in the history with the placeholders of the reply and its parent.
    red = Redactor().record(last)
    ben = red.input.split(", ")[1].split(".")[0]
    ana = red.output.split(", ")[1].split(".")[0]
    assert ben.startswith("<PERSON_") and ana.startswith("<PERSON_") and ben != ana
    assert red.meta["history"] == [
        f"Can we meet on Thursday, {ben}?" + PAD,
        f"Thursday works, {ana}. Room 4 at ten?" + PAD,
    ]


def test_a_reply_loop_in_broken_headers_ends_the_history(tmp_path):
    (tmp_path / "a.eml").write_bytes(message("Loop", "First.", "<l0@x>", parent="<l1@x>"))
    (tmp_path / "b.eml").write_bytes(message("Loop", "Second.", "<l1@x>", parent="<l0@x>"))
    records = list(thread_records(read_corpus(str(tmp_path)), ThreadStats()))
    assert [r.meta.get("history") for r in records] == [None, None]


def test_generate_in_thread_mode_writes_the_thread_as_turns(tiny_adapter, tmp_path):
    import json

    from backtranslate.generate import generate
    from tests.test_generate import _cfg

    corpus = _chain(tmp_path / "mail")
    generate(
        _cfg(
            tiny_adapter,
            tmp_path,
            corpus=str(corpus),
            email_mode="thread",
            filter=False,
            min_tokens=1,
            format="sharegpt",
        )
    )
    data = json.loads((tmp_path / "ds" / "data.json").read_text())
    sharegpt = json.loads((tmp_path / "ds" / "sharegpt.json").read_text())
    last = next(i for i, r in enumerate(data) if r["output"].startswith("Room 2 at ten then"))
    ((user, assistant),) = data[last]["history"]
    assert user.startswith("Can we meet on Thursday, <PERSON_") and assistant.startswith("Thursday works, <PERSON_")
    assert [t["value"] for t in sharegpt[last]["conversations"][:2]] == [user, assistant]
    assert sum("history" in r for r in data) == 1
    info = json.loads((tmp_path / "ds" / "dataset_info.json").read_text())
    assert info["ds"]["columns"]["history"] == "history"


def test_a_long_parent_is_cut_around_what_the_reply_quotes_and_a_reply_quoting_another_message_goes(tmp_path):
    from test_hygiene import _Meter

    from backtranslate.filters import Standalone
    from backtranslate.passages import segment_all

    paras = [f"Paragraph {i} of the proposal describes step {i} of the migration in plain words." for i in range(30)]
    paras[25] = "The cache is flushed before the schema changes, so readers never see stale rows."
    (tmp_path / "1-root.eml").write_bytes(message("Migration plan", "\n\n".join(paras), "<root@x>"))
    quote = "> The cache is flushed before the schema changes, so readers never see stale rows.\n"
    reply = f"On Monday Ana wrote:\n{quote}\nIt is not: the flush runs after the first batch. Same for the index."
    (tmp_path / "2-reply.eml").write_bytes(message("Re: Migration plan", reply, "<r@x>", parent="<root@x>"))
    elsewhere = (
        "> We could also drop the old tables on Friday evening after the backup.\n"
        "> Nobody reads them since the export moved to the warehouse last year.\n\nSame."
    )
    (tmp_path / "3-other.eml").write_bytes(message("Re: Migration plan", elsewhere, "<o@x>", parent="<root@x>"))
    records = {r.id: r for r in thread_records(read_corpus(str(tmp_path)), ThreadStats())}
    answer = next(r for r in records.values() if r.output.startswith("It is not"))
    assert answer.meta["quoted_at"] > 40 and "quotes_elsewhere" not in answer.meta
    (passage,) = segment_all([answer], _Meter(), 3, 120)
    # Its head would stop at paragraph 7; the reply answers paragraph 25, under the subject line.
    assert passage.meta["input_truncated"] and passage.input.startswith("Subject: Migration plan\n\n[...]\n")
    assert paras[25] in passage.input and paras[0] not in passage.input
    assert Standalone().filter(passage) is True
    # A reply whose quotes its parent does not hold answers another message: it goes.
    other = next(r for r in records.values() if r.output.endswith("Same."))
    assert other.meta["quotes_elsewhere"] == "0 of 2" and "quoted_at" not in other.meta
    (cut,) = segment_all([other], _Meter(), 1, 120)
    verdict = Standalone().filter(cut)
    assert verdict[0] is False and verdict[1].startswith("answers quoted text its input does not hold (0 of 2")


def test_a_reply_that_answers_its_parent_point_by_point_goes_one_that_quotes_once_stays(tmp_path):
    from test_hygiene import _Meter

    from backtranslate.filters import Standalone
    from backtranslate.passages import segment_all

    points = [f"Point {i}: the importer should keep the original file name {i} in the log." for i in range(3)]
    (tmp_path / "1-root.eml").write_bytes(message("Importer review", "\n\n".join(points), "<root@x>"))
    inline = "\n\n".join(f"> {p}\n\nSame." if i else f"> {p}\n\nAgreed, see below." for i, p in enumerate(points))
    under = "> " + "\n> ".join(points) + "\n\nAll three make sense; I will send a v2 that logs the names."
    (tmp_path / "2-inline.eml").write_bytes(message("Re: Importer review", inline, "<a@x>", parent="<root@x>"))
    (tmp_path / "3-under.eml").write_bytes(message("Re: Importer review", under, "<b@x>", parent="<root@x>"))
    replies = {r.meta["message_id"]: r for r in thread_records(read_corpus(str(tmp_path)), ThreadStats()) if r.input}
    assert replies["<a@x>"].meta["quote_blocks"] == 3 and replies["<b@x>"].meta["quote_blocks"] == 1
    (inline_passage,) = segment_all([replies["<a@x>"]], _Meter(), 1, 200)
    verdict = Standalone().filter(inline_passage)
    assert verdict[0] is False and verdict[1] == "answers its input point by point (3 quoted runs cut out of it)"
    (under_passage,) = segment_all([replies["<b@x>"]], _Meter(), 1, 200)
    assert Standalone().filter(under_passage) is True
    assert Standalone(max_quote_blocks=4).filter(inline_passage) is True

"""Redaction on small texts: every type is found and numbered per document, look-alikes stay."""

from __future__ import annotations

import pytest
from planted_pii import NEGATIVES

from backtranslate.readers.email_text import email_document, name_from_address, person_name, signature_names
from backtranslate.records import Record
from backtranslate.redact import Redactor, count_placeholders, hash_ids


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Write to ana.lopez@example.com today.", "EMAIL"),
        ("Call +1 (206) 555-0114 after lunch.", "PHONE"),
        ("Call (415) 555-0199 after lunch.", "PHONE"),
        ("Ring +44 20 7946 0958 or not.", "PHONE"),
        ("Ruf an: +49 30 41234567.", "PHONE"),
        ("The host is 83.12.200.7 now.", "IP_ADDRESS"),
        ("The host is 2001:db8:85a3::8a2e:370:7334 now.", "IP_ADDRESS"),
        ("Card 4111 1111 1111 1111 on file.", "CREDIT_CARD"),
        ("Card 3782-822463-10005 on file.", "CREDIT_CARD"),
        ("Pay to DE89 3704 0044 0532 0130 00 please.", "IBAN"),
        ("Pay to GB82WEST12345698765432 please.", "IBAN"),
        ("Reset at https://example.com/reset?token=abc123def456ghi789 now.", "URL"),
        ("Open https://admin:s3cretPass@db.example.com/ now.", "URL"),
        ("Files: https://files.example.com/share/aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY now.", "URL"),
        ("The AWS key is AKIAIOSFODNN7EXAMPLE today.", "API_KEY"),
        ("Use ghp_16C7e42F292c6912E7710c838347Ae178B4a for the API.", "API_KEY"),
        ("Stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc in prose.", "API_KEY"),
        ("api_key: q8Zr2LmX0pTn5VwK", "API_KEY"),
        ("The secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY is old.", "API_KEY"),
        ("The password is hunter2horse, please change it.", "PASSWORD"),
        ("password: Tr0ub4dor&3", "PASSWORD"),
        ("Kennwort: Sommer2024!", "PASSWORD"),
    ],
)
def test_each_kind_is_replaced_by_its_placeholder(redactor, text, kind):
    out = redactor.text(text)
    assert f"<{kind}_1>" in out, out
    assert count_placeholders(out) == {kind: 1}


@pytest.mark.parametrize(
    "text",
    NEGATIVES
    + (
        "Loopback 127.0.0.1 and 0.0.0.0 name no one.",
        "Card 4111 1111 1111 1112 fails the Luhn check.",
        "DE89 3704 0044 0532 0130 01 fails the IBAN check.",
        "The password policy is required for everyone.",
        "Read https://docs.python.org/3/library/re.html and http://dev.example.com:8080 first.",
        "The commit message says CamelCaseIdentifiersAreFine and snake_case_names_are_fine_too.",
        "Meeting 2025-03-14 at 10:30, call-in code 2025.",
        "use std::pin::Pin;\nuse std::task::{Context, Poll};",  # the Rust book: a path, not a PIN
        # a patch's git object ids are no keys
        "diff --git a/lib/x.c b/lib/x.c\nindex 3b18e512dba7..9c1f2e33ab01 100644\n--- a/lib/x.c",
        "base-commit: 8f0b4cce4481fb22653697cce0a6c3b1a2ea7d1f",
        "[1]: https://github.com/error27/smatch/commit/a7b509b8171b4982b5a2a355f64d083dd76e03f9",
        # a stable backport's patch number and branch (linux-sparse heldout3 read it as a phone)
        "Subject: [PATCH 07/27 5.10.y] minmax: fix header inclusions",
    ),
)
def test_look_alikes_are_left_alone(redactor, text):
    assert redactor.text(text) == text


def test_the_same_value_gets_the_same_number_within_a_document(redactor):
    text = (
        "Mail ana@example.com or ANA@example.com, not ben@example.com. Card 4111 1111 1111 1111 is 4111-1111-1111-1111."
    )
    assert redactor.text(text) == (
        "Mail <EMAIL_1> or <EMAIL_1>, not <EMAIL_2>. Card <CREDIT_CARD_1> is <CREDIT_CARD_1>."
    )


def test_an_address_inside_a_url_goes_with_the_url(redactor):
    out = redactor.text("See https://user:pw99@host.example.com/x today.")
    assert out == "See <URL_1> today."


def test_names_full_first_and_last_map_to_one_person(redactor):
    names = ["Priya Raman", "Marcus Feld"]
    out = redactor.text("Hi Marcus, Priya Raman asked Ms. Raman's team. Thanks, Priya. Raman.", names)
    assert out == "Hi <PERSON_1>, <PERSON_2> asked Ms. <PERSON_2>'s team. Thanks, <PERSON_2>. <PERSON_2>."


def test_long_documents_are_scanned_in_windows_without_missing_a_value(redactor):
    filler = "All quiet on the ops front today. " * 2000  # ~68,000 characters
    text = filler[:65_530] + " ops@example.com " + filler + " 83.12.200.7"
    out = redactor.text(text)
    assert "ops@example.com" not in out and "83.12.200.7" not in out
    assert count_placeholders(out) == {"EMAIL": 1, "IP_ADDRESS": 1}


def test_record_redacts_text_input_and_provenance_and_counts_by_type(redactor):
    record = Record(
        output="Hi Ana, the card 4111 1111 1111 1111 works. Ben",
        input="Ana, is the card ok?",
        meta={
            "source": "mail/x.eml",
            "row": 0,
            "format": "eml",
            "from": "Ben Okoye <ben@example.com>",
            "to": "Ana Lopez <ana@example.com>",
            "subject": "Card for Ana",
            "message_id": "<m2@example.com>",
            "in_reply_to": "<m1@example.com>",
            "_names": ["Ben Okoye", "Ana Lopez"],
        },
    )
    out = redactor.record(record)
    assert out.input == "<PERSON_1>, is the card ok?"  # the message answered comes first
    assert out.output == "Hi <PERSON_1>, the card <CREDIT_CARD_1> works. <PERSON_2>"
    assert out.meta["from"] == "<PERSON_2> <<EMAIL_1>>" and out.meta["to"] == "<PERSON_1> <<EMAIL_2>>"
    assert out.meta["subject"] == "Card for <PERSON_1>" and out.meta["source"] == "mail/x.eml"
    assert out.meta["message_id"] == hash_ids("<m2@example.com>") != hash_ids("<m1@example.com>")
    assert "example.com" not in out.meta["in_reply_to"] and "_names" not in out.meta
    assert out.meta["redactions"] == {"PERSON": 6, "CREDIT_CARD": 1, "EMAIL": 2}
    assert out.id == record.id


# --- where the names come from: the e-mail reader ------------------------------------------------


def test_person_names_from_display_names_and_addresses():
    assert person_name("Priya Raman") == "Priya Raman"
    assert person_name('"Raman, Priya"') == "Priya Raman"
    assert person_name("Dr. Ana de la Cruz") == "Ana de la Cruz"
    assert person_name("All Staff") == person_name("IT Support") == person_name("billing@x.com") == ""
    assert name_from_address("priya.raman@example.com") == "Priya Raman"
    assert name_from_address("all-staff@example.com") == name_from_address("info@example.com") == ""


def test_signature_block_and_sign_off_names():
    body = "Hi all,\n\nThe report is done.\n\nBest regards,\nOwen\n\n-- \nOwen Brandt | Support Lead\n+1 206 555 0100\n"
    assert signature_names(body) == ["Owen Brandt", "Owen"]


def test_email_document_hands_the_names_to_redaction():
    raw = (
        b"From: Priya Raman <priya@example.com>\nTo: All Staff <all@example.com>, Ben Okoye <ben@example.com>\n"
        b"Cc: \"Lopez, Ana\" <ana@example.com>\nSubject: Hello\n\nHi Ben,\n\nSee you.\n\nThanks,\nPriya\n\n"
        b"-- \nPriya Raman\nFinance\n"
    )
    text, headers = email_document(raw)
    assert headers["_names"] == ["Priya Raman", "Ben Okoye", "Ana Lopez"]
    assert headers["cc"] == '"Lopez, Ana" <ana@example.com>'


def test_a_document_that_cannot_be_redacted_is_skipped_counted_and_logged(redactor, monkeypatch, caplog):
    from backtranslate.redact import RedactionStats

    real = Redactor.text

    def fails_on_one(self, text, names=(), doc=None):
        if "BREAKS" in text:
            raise RecursionError("injected")
        return real(self, text, names, doc)

    monkeypatch.setattr(Redactor, "text", fails_on_one)
    stats = RedactionStats()
    docs = [
        Record(output=t, meta={"source": "x.jsonl", "row": i})
        for i, t in enumerate(["ana@example.com wrote", "BREAKS ben@example.com", "fine"])
    ]
    out = list(redactor.records(docs, stats))
    assert [r.output for r in out] == ["<EMAIL_1> wrote", "fine"]  # never passed on unredacted
    assert stats.to_dict(True)["failed"] == 1 and stats.documents == 2
    assert "redaction failed on x.jsonl#1 (RecursionError); document skipped" in caplog.text


def test_encoded_display_names_are_decoded_before_they_are_looked_for(redactor):
    raw = (
        "From: =?utf-8?q?Ren=C3=A9_Kr=C3=A4mer?= <rk@example.com>\nTo: b@example.com\nSubject: Hi\n"
        "Content-Type: text/plain; charset=utf-8\n\nHallo, hier ist René.\n"
    ).encode()
    text, headers = email_document(raw)
    assert headers["_names"] == ["René Krämer"]
    out = redactor.record(Record(output=text, meta={"source": "x.eml", **headers}))
    assert out.output == "Subject: Hi\n\nHallo, hier ist <PERSON_1>."


def test_a_name_from_any_header_of_the_corpus_is_redacted_in_every_message(tmp_path):
    """Grace writes one message; another only mentions her by first name. She must not survive
    in either (the demo corpus has exactly this case)."""
    from backtranslate.config import GenerateConfig
    from backtranslate.generate import documents
    from backtranslate.readers.corpus import ReadStats
    from backtranslate.redact import RedactionStats

    (tmp_path / "a.eml").write_text(
        "From: Ben Okoye <ben@example.com>\nTo: Ana Lopez <ana@example.com>\n"
        "Subject: Budget\n\nHi Ana,\n\nI will send it to Grace for sign-off on Friday.\n\nBen\n"
    )
    (tmp_path / "b.eml").write_text(
        "From: Grace Whitfield <grace.whitfield@example.com>\nTo: Ben Okoye <ben@example.com>\n"
        "Subject: Re: Budget\n\nThanks Ben, looks fine.\n\nGrace\n"
    )
    cfg = GenerateConfig(corpus=str(tmp_path), model="unused", out=str(tmp_path / "out"))
    docs = {d.meta["source"].rsplit("/", 1)[-1]: d for d in documents(cfg, ReadStats(), None, RedactionStats())}
    mention = docs["a.eml"].output
    assert "Grace" not in mention and "I will send it to <PERSON_" in mention
    assert "Grace" not in docs["b.eml"].output and "Whitfield" not in docs["b.eml"].output
    cfg.redact = False
    assert (
        "Grace"
        in next(
            d for d in documents(cfg, ReadStats(), None, RedactionStats()) if d.meta["source"].endswith("a.eml")
        ).output
    )

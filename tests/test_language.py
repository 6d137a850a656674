"""Language: detected for every passage and kept in provenance; --languages keeps only those."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.config import GenerateConfig, resolve
from backtranslate.errors import UserError
from backtranslate.filters import FilterStats, apply_filters
from backtranslate.filters.language import Language, detect, parse_languages
from backtranslate.records import Record

runner = CliRunner()

TEXTS = {
    "en": "The quarterly report is ready for review. Please check the numbers for your team before Friday and "
    "send me your comments, so that I can pass the final version to the board next week.",
    "de": "Der Quartalsbericht ist fertig und kann geprüft werden. Bitte prüft die Zahlen für euer Team bis Freitag "
    "und schickt mir eure Anmerkungen, damit ich die endgültige Fassung nächste Woche weitergeben kann.",
    "fr": "Le rapport trimestriel est prêt à être relu. Merci de vérifier les chiffres de votre équipe avant vendredi "
    "et de m'envoyer vos remarques, afin que je transmette la version finale au conseil la semaine prochaine.",
}


def test_detect_names_the_language_and_ignores_placeholders():
    for code, text in TEXTS.items():
        assert detect(text)[0] == code
    assert detect("Hallo <PERSON_1>, kannst du <PERSON_2> bitte morgen früh anrufen? Danke!")[0] == "de"


def test_filter_records_every_language_and_drops_the_others_with_the_reason():
    stats, rejected = FilterStats(), []
    language = Language(parse_languages("EN, de"))
    kept = list(apply_filters([Record(output=t) for t in TEXTS.values()], [language], stats, on_reject=rejected.append))
    assert [r.meta["language"] for r in kept] == ["en", "de"]
    assert [r.meta["reject_reason"] for r in rejected] == ["language: fr not in en,de"]
    assert language.mix == {"en": 1, "de": 1, "fr": 1}
    assert all(0.5 < r.meta["language_score"] <= 1 for r in kept + rejected)


def test_unknown_language_codes_are_a_config_error():
    with pytest.raises(UserError, match="unknown language code\\(s\\) xx"):
        resolve(GenerateConfig, None, {"languages": "en,xx"})


def test_generate_keeps_only_the_languages_asked_for(tiny_adapter, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for code, text in TEXTS.items():
        (corpus / f"report-{code}.md").write_text(text + "\n")
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "generate",
            "--corpus",
            str(corpus),
            "--model",
            str(tiny_adapter),
            "--out",
            str(out),
            "--greedy",
            "--max-new-tokens",
            "6",
            "--precision",
            "fp32",
            "--no-filter",
            "--languages",
            "en,de",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert sorted(r["meta"]["language"] for r in rows) == ["de", "en"]
    assert [(r["meta"]["source"], r["stage"], r["reason"]) for r in rejected] == [
        ("report-fr.md", "passage", "language: fr not in en,de")
    ]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["languages"] == {"mix": {"de": 1, "en": 1, "fr": 1}, "kept": ["en", "de"]}
    assert stats["passages"]["dropped"] == {"language": 1}
    assert "kept only en, de" in (out / "README.md").read_text()
    assert "languages: de 1, en 1, fr 1 (kept: en, de)" in result.output


def test_an_instruction_in_another_language_than_its_passage_is_rejected_with_both():
    from backtranslate.filters.language import InstructionLanguage

    f = InstructionLanguage()
    german = Record(
        instruction="Write a short announcement of the next meetup for the team.",
        output="Das nächste Treffen findet am Dienstag im Büro in Hamburg statt.",
        meta={"language": "de"},
    )
    assert f.filter(german) == (False, "instruction in en, passage in de")
    same = Record(
        instruction="Schreibe eine kurze Ankündigung des nächsten Treffens.",
        output=german.output,
        meta={"language": "de"},
    )
    assert f.filter(same) is True
    short = Record(instruction="Summarize this.", output=german.output, meta={"language": "de"})
    assert f.filter(short) is True  # too short to be sure of its language

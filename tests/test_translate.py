"""--translate: instructions in their passage's language through a translate pivot, checked by a
round trip (backtranslate/translate.py)."""

import json

import pytest
from quick_configs import quick_generate

from backtranslate.config import GenerateConfig
from backtranslate.generate import _as_filtered, generate, pair_filters, passage_languages
from backtranslate.records import Record
from backtranslate.translate import TRANSLATE_KEY, Translate, Translator, clean, language_name

GERMAN_PAGES = [
    "Die Stadtbibliothek bleibt wegen Umbauarbeiten vom 3. bis 14. März geschlossen. Ausgeliehene "
    "Bücher können in dieser Zeit am Rückgabeautomaten im Foyer des Rathauses abgegeben werden. "
    "Die Leihfristen werden automatisch verlängert, Mahngebühren fallen nicht an.",
    "Um das Paket unter Windows zu installieren, laden Sie zuerst das Installationsprogramm herunter. "
    "Starten Sie es mit einem Doppelklick und folgen Sie den Anweisungen. Nach der Installation "
    "müssen Sie den Rechner neu starten, damit alle Änderungen wirksam werden.",
    "Der Verein lädt alle Mitglieder zur Jahreshauptversammlung am Freitag um 19 Uhr ein. Auf der "
    "Tagesordnung stehen der Kassenbericht, die Wahl des neuen Vorstands und die Planung des "
    "Sommerfestes. Anträge sind bis zum Monatsende schriftlich einzureichen.",
]


class PhraseBook:
    """A translator that knows a fixed set of sentences both ways. The stage's positive path needs
    a model that translates well, and none that does runs on this machine (the embedded 135M
    model writes German-looking text that says something else; test_the_embedded_model_...)."""

    batch_size, max_new_tokens = 8, 96

    def __init__(self, table):
        self.table = table

    def rewrite(self, records):
        return [(self.table.get(r.instruction, r.instruction), "stop") for r in records]


def _pair(instruction, language="de"):
    return Record(id=instruction[:8], instruction=instruction, input="", output="...", meta={"language": language})


def test_language_names_and_cleaning():
    assert language_name("de") == "German" and language_name("fr") == "French" and language_name("qq") == "qq"
    assert clean('Translation: "Schreibe einen Brief."\n\nNote: ...') == "Schreibe einen Brief."
    assert clean("English: How do I install it?") == "How do I install it?"


def test_a_faithful_translation_replaces_the_instruction_and_keeps_the_original():
    english = "Explain how to install the package on Windows."
    german = "Erkläre, wie man das Paket unter Windows installiert."
    back = "Explain how the package is installed on Windows."  # a paraphrase comes back, not the original
    stage = Translate(PhraseBook({english: german, german: back}))
    [(r, verdict)] = list(stage.verdicts([_pair(english)]))
    assert verdict is True and r.instruction == german
    meta = r.meta[TRANSLATE_KEY]
    assert meta["original"] == english and meta["kept"] and meta["round_trip"] == back and meta["cosine"] >= 0.7
    assert stage.summary()["languages"] == {"de": {"translated": 1, "kept": 1}}
    # resume replays the pair as the filters before the translation saw it
    assert _as_filtered(Record.from_row(r.to_dict())).instruction == english


@pytest.mark.parametrize(
    "translation, back, reason",
    [
        ("Erkläre, wie man den Kuchen backt.", "Explain how to bake the cake.", "round trip cosine"),
        ("Explain how to install the package on Windows, please.", None, "translation in en, passage in de"),
        ("", None, "empty translation"),
        ("Die Paket die Paket die Paket. Die Paket die Paket die Paket.", None, "repetitive translation"),
    ],
)
def test_an_unfaithful_or_failed_translation_drops_the_pair_with_the_reason(translation, back, reason):
    english = "Explain how to install the package on Windows."
    stage = Translate(PhraseBook({english: translation, **({translation: back} if back else {})}))
    [(r, verdict)] = list(stage.verdicts([_pair(english)]))
    assert verdict[0] is False and verdict[1].startswith(reason)
    assert r.instruction == english and r.meta[TRANSLATE_KEY]["reason"] == verdict[1]
    assert stage.summary()["kept"] == 0 and sum(stage.summary()["dropped"].values()) == 1


def test_only_instructions_in_another_language_than_their_passage_are_translated():
    stage = Translate(PhraseBook({}))
    assert stage.needs(_pair("Write a letter to the club's members."))  # English over German
    assert stage.needs(_pair("Summarize it."))  # short, but the backward model writes English
    assert not stage.needs(_pair("Schreibe einen Brief an die Mitglieder des Vereins."))
    assert not stage.needs(_pair("Write a letter to the club's members.", language="en"))
    assert not stage.needs(Record(id="x", instruction="Write a letter.", input="", output="..."))


@pytest.mark.embedded  # shares the cached conversion of the embedded model, as test_embedded.py makes it
def test_the_embedded_model_cannot_translate_and_the_round_trip_says_so():
    """The real 135M model on real requests: German-looking text that is not the request. The
    language detector alone would keep most of it; the round trip drops every one."""
    stage = Translate(Translator("default", batch_size=4, precision="fp32"))
    pairs = [
        _pair("Write a short article about the history of the Berlin Wall."),
        _pair("Summarize the main points of the press release."),
        _pair("What are the opening hours of the museum?"),
    ]
    verdicts = [v for _, v in stage.verdicts(pairs)]
    assert all(v is not True for v in verdicts)
    assert stage.summary()["translated"] == 3 and stage.summary()["kept"] == 0


def _cfg(corpus, out, model, translator, **kw):
    return quick_generate(model, out, corpus=str(corpus), relevance=False, translate=str(translator), **kw)


def test_generate_with_translate_lets_other_languages_in_and_accounts_for_every_pair(
    tiny_adapter, tiny_model_dir, tmp_path
):
    corpus = tmp_path / "seiten"
    corpus.mkdir()
    for i, text in enumerate(GERMAN_PAGES):
        (corpus / f"seite{i}.txt").write_text(text, encoding="utf-8")
    cfg = _cfg(corpus, tmp_path / "out", tiny_adapter, tiny_model_dir)
    # --languages auto keeps German although the adapter's seed is English; the translation
    # stage, not instruction_language, checks the instruction's language
    assert passage_languages(cfg) is None
    assert "instruction_language" not in [f.name for f in pair_filters(cfg, [])]
    result = generate(cfg)
    stats = result.stats
    assert stats["languages"]["mix"].get("de") == 3 and stats["passages"]["dropped"].get("language") is None
    translation = stats["translation"]
    assert translation["model"] == str(tiny_model_dir)
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    by_translation = [r for r in rejected if r["meta"].get("rejected_by") == "translate"]
    # the tiny random model writes noise: every pair it was asked about is dropped, with a reason
    assert translation["kept"] + len(by_translation) == translation["translated"]
    assert all(r["meta"][TRANSLATE_KEY]["reason"] == r["reason"] for r in by_translation)
    assert "translated into their passage's language" in (tmp_path / "out" / "README.md").read_text()


def test_without_translate_auto_keeps_the_seeds_languages_only(tiny_adapter, tmp_path):
    cfg = GenerateConfig(corpus=str(tmp_path), out=str(tmp_path / "o"), model=str(tiny_adapter))
    assert passage_languages(cfg) == ("en",)
    assert "instruction_language" in [f.name for f in pair_filters(cfg, [])]

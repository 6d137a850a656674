import pytest

from backtranslate.passages import TokenMeter, segment
from backtranslate.records import Record


@pytest.fixture(scope="module")
def meter(tiny_model_dir):
    from transformers import AutoTokenizer

    return TokenMeter(AutoTokenizer.from_pretrained(tiny_model_dir))


def _doc(text):
    return Record(output=text, id="doc1", meta={"source": "a.md"})


def _paragraph(i, words=40):
    return " ".join(f"word{i}x{j}" for j in range(words)) + "."


def test_short_document_is_kept_whole(meter):
    doc = _doc("  Hello team,\n\nthe office is closed on Friday.\n")
    [p] = list(segment(doc, meter, min_tokens=4, max_tokens=200))
    assert p.output == "Hello team,\n\nthe office is closed on Friday."
    assert doc.output[p.meta["start"] : p.meta["end"]] == p.output and p.meta["source"] == "a.md"


def test_long_document_is_cut_within_bounds_along_paragraphs(meter):
    text = "\n\n".join(_paragraph(i) for i in range(30))
    doc = _doc(text)
    passages = list(segment(doc, meter, min_tokens=50, max_tokens=400))
    assert len(passages) > 3
    for p in passages:
        assert doc.output[p.meta["start"] : p.meta["end"]] == p.output  # offsets are exact
        assert meter.count(p.output) <= 400
        assert p.output.startswith("word") and p.output.endswith(".")  # paragraph boundaries
    # nothing lost: every paragraph lands in exactly one passage
    assert sum(p.output.count("word") for p in passages) == text.count("word")
    assert len({p.id for p in passages}) == len(passages)
    assert [p.meta["passage"] for p in passages] == list(range(len(passages)))


def test_headings_start_a_new_passage(meter):
    text = "# Setup\n\n" + _paragraph(1, 10) + "\n\n## Usage\n\n" + _paragraph(2, 10) + "\n\n" + _paragraph(3, 200)
    passages = list(segment(_doc(text), meter, min_tokens=5, max_tokens=300))
    assert any(p.output.startswith("## Usage") for p in passages)


def test_a_huge_single_line_is_cut_by_tokens(meter):
    text = "x" * 3 + " lorem" * 5000  # one sentence, no paragraph breaks
    passages = list(segment(_doc(text), meter, min_tokens=10, max_tokens=256))
    assert len(passages) > 5 and all(meter.count(p.output) <= 257 for p in passages)


def test_short_tail_joins_its_predecessor(meter):
    text = _paragraph(1, 60) + "\n\n" + _paragraph(2, 60) + "\n\nThanks."
    passages = list(segment(_doc(text), meter, min_tokens=20, max_tokens=meter.count(_paragraph(1, 60)) + 10))
    assert passages[-1].output.endswith("Thanks.") and passages[-1].output != "Thanks."


def test_ids_are_stable_across_runs(meter):
    text = "\n\n".join(_paragraph(i) for i in range(10))

    def ids():
        return [p.id for p in segment(_doc(text), meter, 20, 200)]

    assert ids() == ids()


def test_whitespace_document_gives_nothing(meter):
    assert list(segment(_doc(" \n\n \t"), meter, 1, 10)) == []

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


def test_a_colon_intro_goes_with_the_code_it_introduces(meter):
    # Cut after its last paragraph, the first passage ended on "... run this:" and the listing
    # after it had no introduction; now the intro opens the listing's passage and nothing is lost.
    intro = "To build the project, run this:"
    code = "```sh\n" + "\n".join(f"cargo build --package crate{i} --release" for i in range(12)) + "\n```"
    text = "\n\n".join([_paragraph(1, 60), _paragraph(2, 60), intro, code])
    budget = meter.count("\n\n".join([_paragraph(1, 60), _paragraph(2, 60), intro])) + 2
    assert meter.count(intro + "\n\n" + code) <= budget < meter.count(text)  # the premise: a cut is needed
    passages = list(segment(_doc(text), meter, min_tokens=10, max_tokens=budget))
    assert [p.output.rstrip().endswith(":") for p in passages] == [False] * len(passages)
    assert passages[-1].output.startswith(intro) and passages[-1].output.endswith("```")
    assert "".join(p.output for p in passages).count("word") == text.count("word")


def test_a_colon_intro_stays_when_the_next_passage_cannot_take_it(meter):
    # The block after the intro fills a passage on its own (it is no oversized code block), so
    # moving the intro would overfill it: the cut stays where it was.
    intro = "The reasons are these:"
    text = "\n\n".join([_paragraph(1, 60), intro, _paragraph(2, 60)])
    budget = meter.count(_paragraph(2, 60))
    passages = list(segment(_doc(text), meter, min_tokens=5, max_tokens=budget + 1))
    assert all(meter.count(p.output) <= budget + 1 for p in passages)
    assert any(p.output.endswith(intro) for p in passages)

import json

import pytest

from backtranslate.errors import UserError
from backtranslate.filters import (
    FILTERS,
    AsksForCode,
    AsksForGenre,
    Boilerplate,
    CopiesPassage,
    ExactDuplicate,
    Filter,
    FilterStats,
    InstructionLength,
    LengthRatio,
    MissingInput,
    NearDuplicate,
    PassageLength,
    Refusal,
    Repetition,
    TemplateLeak,
    TextRatio,
    Truncated,
    Ungrounded,
    apply_filters,
    default_pair_filters,
    default_passage_filters,
    grounding,
)
from backtranslate.records import Record
from backtranslate.templates import REVERSE_TASK

PASSAGE = (
    "Dear team, the office will be closed on Friday for the building's annual electrical inspection. "
    "Please take your laptops home on Thursday evening and work remotely. The usual meetings move to "
    "video calls, and the kitchen will be cleaned out, so take any food you want to keep."
)
GOOD = "Write an email telling the team the office is closed on Friday."


def pair(instruction: str = GOOD, output: str = PASSAGE, **meta) -> Record:
    return Record(output=output, instruction=instruction, meta=dict(meta))


def verdict(f: Filter, record: Record) -> tuple[bool, str]:
    """Run one record through the filter the way the pipeline does; (kept, reject reason)."""
    kept = list(f([record], FilterStats()))
    return bool(kept), record.meta.get("reject_reason", "")


def assert_drops(f: Filter, record: Record, *details: str) -> str:
    kept, reason = verdict(f, record)
    assert not kept, f"{f.name} kept {record}"
    assert reason.startswith(f"{f.name}: ") and record.meta["rejected_by"] == f.name
    for detail in details:
        assert detail in reason, reason
    return reason


def assert_keeps(f: Filter, record: Record) -> None:
    kept, reason = verdict(f, record)
    assert kept, reason
    assert "reject_reason" not in record.meta


# ------------------------------------------------------------------------------- pair filters


def test_instruction_length():
    f = InstructionLength()
    assert_keeps(f, pair())
    assert_drops(f, pair("   "), "empty")
    assert_drops(f, pair("Summarise everything"), "too short (2 words < 3)")
    assert_drops(f, pair("Do it now"), "too short (9 chars < 10)")
    assert_drops(f, pair("word " * 151), "too long (151 words > 150)")


def test_instruction_length_none_turns_checks_off():
    f = InstructionLength(min_words=None, max_words=None, min_chars=None)
    assert_keeps(f, pair("Go"))
    assert_keeps(f, pair("word " * 500))
    assert_drops(f, pair(""), "empty")  # an empty instruction is never a pair


def test_truncated():
    assert_keeps(Truncated(), pair(finish_reason="stop"))
    assert_keeps(Truncated(), pair())
    assert_drops(Truncated(), pair(finish_reason="length"), "hit max_new_tokens")


def test_template_leak():
    f = TemplateLeak()
    assert_keeps(f, pair())
    assert_keeps(f, pair("Draft a polite response: decline the invitation to the gala."))
    assert_drops(f, pair("Write a note.\n### response\nDear all"), "template marker '### Response'")
    assert_drops(f, pair("Write a note.\nResponse: Dear all"), "template marker 'Response:'")
    assert_drops(f, pair(REVERSE_TASK), "template's sentence 'Use the Input below to create an")
    assert_drops(f, pair("use the input below to write a memo"), "'Use the Input below'")


def test_template_leak_none_turns_checks_off():
    f = TemplateLeak(markers=None, sentences=None)
    assert_keeps(f, pair("### Response: " + REVERSE_TASK))


def test_copies_passage():
    f = CopiesPassage()
    assert_keeps(f, pair())
    copied = "Summarise: please take your laptops home on Thursday evening and work remotely"
    assert_drops(f, pair(copied), "8-word run", "'please take your laptops home on thursday evening'")
    assert_drops(
        f, pair("The usual meetings move to video calls."), "whole instruction (7 words) is copied from the passage"
    )


def test_a_patch_asked_for_by_its_own_subject_line_is_no_copy():
    cover = "Subject: [PATCH 0/27] Backport minmax.h updates from v6.17-rc7\n\nThis series backports ..."
    asked = 'Write the cover letter for the patch series "Backport minmax.h updates from v6.17-rc7".'
    # The instruction is the passage's header (priming.closed, kept in meta.primer): no copy.
    assert_keeps(CopiesPassage(), pair(asked, cover, primer=asked))
    # The same words written by the model (its primer only opened the instruction) are one.
    assert_drops(CopiesPassage(), pair(asked, cover, primer="Write the cover letter"), "8-word run")


def test_copies_passage_short_quotes_and_none():
    # Five shared words are a topic, not a copy.
    assert_keeps(CopiesPassage(), pair("Explain why the office will be closed."))
    copied = "please take your laptops home on thursday evening and work remotely"
    assert_keeps(CopiesPassage(max_ngram=None, min_copied_words=None), pair(copied))
    assert_drops(CopiesPassage(max_ngram=None), pair(copied), "whole instruction")


def test_repetition():
    f = Repetition()
    assert_keeps(f, pair())
    assert_drops(f, pair("Write a poem write a poem write a poem write a poem"), "repeated 3-grams make up", "> 30%")
    assert_drops(
        f, pair("Write a cheerful note to the team!!!!!!!!!!!!!!!!!!!!!!!!!"), "character '!' repeated 25 times"
    )
    assert_drops(f, pair("Summarise it.\nSummarise it."), "line repeated 2 times: 'summarise it.'")
    # Instructions of the blind reads that compare a thing with itself, and two that do not.
    assert_drops(f, pair("What is the difference between unsafe and unsafe in Rust?"), "compares 'unsafe' with itself")
    assert_drops(
        f,
        pair(
            "What is the difference between the command line options for running tests and the command line "
            "options for running tests?"
        ),
        "with itself",
    )
    assert_keeps(f, pair("What is the difference between String and string slices in Rust?"))
    assert_keeps(f, pair("Compare the 4K mode with the 1080p mode on the Xbox One X."))


def test_repetition_none_turns_checks_off():
    f = Repetition(max_repeated_ngram_fraction=None, max_char_run=None, max_line_repeats=None, self_comparison=False)
    assert_keeps(
        f, pair("Write a poem write a poem write a poem\nWrite a poem write a poem write a poem!!!!!!!!!!!!!!!!!!!!!!!")
    )
    assert_keeps(f, pair("Compare tabs with tabs."))


@pytest.mark.parametrize(
    "text",
    [
        "As an AI, I do not write emails.",
        "I'm sorry, but I cannot help with that request.",
        "I can't assist with that.",
        "As a language model I have no opinions.",
        "I am unable to provide that information.",
        "I apologize, but this passage has no clear task.",
    ],
)
def test_refusal_drops(text):
    reason = assert_drops(Refusal(), pair(text), "matches '")
    assert reason.split("'")[1].lower() in text.lower()


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        "I can't decide between two laptops; compare them for a student.",
        "I cannot help but wonder about black holes: explain how they form.",
        "I am unable to attend Friday's meeting; write my apology to the team.",
    ],
)
def test_refusal_keeps_requests_in_the_users_voice(text):
    assert_keeps(Refusal(), pair(text))


def test_refusal_none_turns_check_off():
    assert_keeps(Refusal(patterns=None), pair("As an AI I cannot help with that."))


@pytest.mark.parametrize(
    "text, words",
    [
        ("Write a brief summary of the following review.", "the following"),
        ("Rewrite the given email so it sounds more polite.", "the given"),
        ("Translate the above paragraph into German.", "the above"),
    ],
)
def test_missing_input_drops_references_to_an_input_the_pair_lacks(text, words):
    assert_drops(MissingInput(), pair(text), f"refers to '{words}' but the pair has no input")


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        "Write a haiku using the following words: moon, lake, silence.",
        "Given a list of numbers, return the largest one.",
        "Write an email following up on the office closure.",
    ],
)
def test_missing_input_keeps_complete_instructions(text):
    assert_keeps(MissingInput(), pair(text))


def test_missing_input_keeps_references_when_the_input_is_there():
    record = Record(output=PASSAGE, instruction="Summarize the following email thread.", input="From: Ana ...")
    assert_keeps(MissingInput(), record)


def test_length_ratio():
    f = LengthRatio()
    assert_keeps(f, pair())
    reason = assert_drops(
        f,
        pair("Write a long and detailed note to everyone saying thanks", output="Thanks all!"),
        "ratio 5.00 > 1.5",
        "10 instruction words / 2 passage words",
    )
    assert reason
    assert_drops(LengthRatio(min_ratio=0.5), pair(), "ratio 0.25 < 0.5 (12 instruction words / 48 passage words)")
    assert_keeps(LengthRatio(max_ratio=None), pair("one two three four", output="ok"))


def test_exact_duplicate_ignores_case_spacing_and_trailing_punctuation():
    f = ExactDuplicate()
    first = pair("Write an email about Friday.")
    assert_keeps(f, first)
    assert_drops(f, pair("  write AN   email\nabout friday!! "), f"duplicate of {first.id}")
    assert_keeps(f, pair("Write an email about Monday."))
    assert_keeps(f, pair("Write an email, about Friday"))  # inner punctuation still counts


def test_exact_duplicate_on_passages():
    f = ExactDuplicate(field="output")
    first = Record(output=PASSAGE, id="p1")
    assert_keeps(f, first)
    assert_drops(f, Record(output=PASSAGE.upper() + "  ", id="p2"), "duplicate of p1")


def test_near_duplicate_catches_a_rewording_and_keeps_a_different_instruction():
    f = NearDuplicate()
    first = pair("Write a short email inviting the team to Friday's lunch.")
    assert_keeps(f, first)
    assert_drops(
        f,
        pair("Write a short email inviting the team to the Friday lunch."),
        f"near duplicate of {first.id}",
        "estimated Jaccard",
    )
    assert_keeps(f, pair("Summarise the quarterly sales report in three bullet points."))
    assert_keeps(f, pair("Write a short email inviting the team to Friday's dinner."))


def test_near_duplicate_short_texts_and_word_order():
    f = NearDuplicate()
    assert_keeps(f, pair("Translate English to French."))
    assert_keeps(f, pair("Translate French to English."))  # order matters
    assert_keeps(f, pair("Write haiku"))  # too short for 3-grams: bag of words
    assert_drops(f, pair("Haiku, write!"), "near duplicate of")
    assert_keeps(f, pair("..."))  # no words: nothing to compare


def test_near_duplicate_none_turns_check_off():
    f = NearDuplicate(threshold=None)
    assert_keeps(f, pair())
    assert_keeps(f, pair())


@pytest.mark.parametrize("cls", [ExactDuplicate, NearDuplicate])
def test_one_instruction_over_two_inputs_is_two_pairs(cls):
    # Replies in one thread are asked for by its subject: the same instruction, each its own parent.
    asked = 'Reply to the message below about "Scheduled CSV export missing last day of the month".'
    first = "Hi, the scheduled CSV export of the billing report has stopped including the last day of each month."
    second = "We moved the export job to 02:00 UTC last week; the cut-off may now fall before midnight in your zone."
    f = cls(field="prompt")
    assert f.filter(Record(output="Thanks, we will look.", instruction=asked, input=first)) is True
    assert f.filter(Record(output="That explains it.", instruction=asked, input=second)) is True
    # The same instruction over the same input is the same prompt twice.
    assert f.filter(Record(output="Sorry about that.", instruction=asked, input=first))[0] is False
    # Without an input the prompt is the instruction, as before.
    assert f.filter(Record(output="One.", instruction="Write a haiku about the export."))
    assert f.filter(Record(output="Two.", instruction="Write a haiku about the export."))[0] is False
    # By instruction alone, the second reply was a duplicate of the first.
    by_instruction = cls(field="instruction")
    assert by_instruction.filter(Record(output="a", instruction=asked, input=first)) is True
    assert by_instruction.filter(Record(output="b", instruction=asked, input=second))[0] is False


def test_the_patches_of_one_series_are_not_near_duplicates():
    # Each patch of a series is asked for by its subject, its input the series' cover letter.
    cover = "This series adds context-analysis annotations to the locking primitives, one file a patch."
    subjects = (
        "kref: add context-analysis annotations to kref_get and kref_put in the header",
        "kref: add context-analysis annotations to kref_get and kref_put in the header file",
    )
    asked = [f'Write a patch with the subject "{s}".' for s in subjects]
    closed = NearDuplicate()
    for i, instruction in enumerate(asked):
        row = Record(output=f"diff {i}", instruction=instruction, input=cover, meta={"primer": instruction})
        assert closed.filter(row) is True
    # The same words written by the model (no header of its own) are a near duplicate.
    written = NearDuplicate()
    assert written.filter(Record(output="diff 0", instruction=asked[0], input=cover)) is True
    assert written.filter(Record(output="diff 1", instruction=asked[1], input=cover))[0] is False


def test_near_duplicate_is_deterministic():
    texts = [
        f"Write a short email inviting the team to {d}'s {m}."
        for d in ("Friday", "Monday")
        for m in ("lunch", "lunch meeting", "team lunch", "breakfast")
    ] + ["Write a short email inviting the team to the Friday lunch."]

    def run() -> list[str]:
        f = NearDuplicate()
        return [f"{ok}:{reason}" for ok, reason in (verdict(f, pair(t)) for t in texts)]

    first = run()
    assert first == run()
    assert any(r.startswith("False:near_duplicate") for r in first)


# ---------------------------------------------------------------------------- passage filters


def test_passage_length():
    assert_keeps(PassageLength(), Record(output=PASSAGE))
    assert_drops(PassageLength(), Record(output="Too short to use."), "too short (4 words < 20)")
    assert_drops(PassageLength(), Record(output=" \n "), "empty")
    assert_drops(PassageLength(max_words=10), Record(output=PASSAGE), "too long", "> 10)")
    assert_keeps(PassageLength(min_words=None), Record(output="Short."))


def test_text_ratio():
    assert_keeps(TextRatio(), Record(output=PASSAGE))
    assert_drops(
        TextRatio(), Record(output="| 12.5 | 33.1 | 90 |\n|----|----|----|\n| a | 7 | 8.0 |"), "letters are", "(< 60%)"
    )
    assert_drops(TextRatio(), Record(output="  "), "no text")
    assert_keeps(TextRatio(min_alpha_ratio=None), Record(output="1234 5678"))


def test_boilerplate():
    f = Boilerplate()
    assert_keeps(f, Record(output=PASSAGE))
    letter = f"Hi all,\n\n{PASSAGE}\n\nBest,\nAnna\n\nSent from my iPhone"
    assert_keeps(f, Record(output=letter))
    # One boilerplate sentence inside a paragraph does not condemn it.
    assert_keeps(f, Record(output=PASSAGE + " Click here for the floor plan."))
    cookies = (
        "We use cookies to improve your experience. By continuing you accept all cookies.\n"
        "Privacy Policy | Terms of Use\nCopyright 2024 Example Ltd. All rights reserved.\nNice shoes."
    )
    assert_drops(f, Record(output=cookies), "boilerplate is", "(> 50%)", "e.g. 'We use cookies")
    assert_drops(f, Record(output="Sent from my iPhone"), "100% of the words")
    menu = "Home\nAbout us\nProducts\nOur blog\nContact us\nCareers\nWelcome to our shop of fine goods."
    assert_drops(f, Record(output=menu), "e.g. 'Home'")


def test_boilerplate_none_turns_checks_off():
    assert_keeps(Boilerplate(max_fraction=None), Record(output="Sent from my iPhone"))
    menu = "Home\nAbout us\nProducts\nBlog\nContact\nCareers\nWelcome to our shop of fine goods."
    assert_keeps(Boilerplate(short_line_words=None), Record(output=menu))
    assert_keeps(Boilerplate(patterns=None, short_line_words=None), Record(output="Sent from my iPhone"))


# ------------------------------------------------------------------------- pipeline and registry


def test_apply_filters_streams_lazily_and_counts_by_filter():
    pulled = []

    def corpus():
        for i in range(1000):
            pulled.append(i)
            yield pair(f"Write item number {i} of the list." if i else "bad")

    stats, rejects = FilterStats(), []
    stream = apply_filters(corpus(), default_pair_filters(), stats, on_reject=rejects.append)
    first = next(stream)
    assert first.instruction == "Write item number 1 of the list."
    assert pulled == [0, 1]  # only what it took to find one kept record
    assert stats.dropped == {"instruction_length": 1}
    assert [r.meta["reject_reason"] for r in rejects] == ["instruction_length: too short (3 chars < 10)"]


def test_apply_filters_summary_and_rejects():
    records = [
        pair(),
        pair(" write an email telling the team the office is closed on friday "),
        pair(finish_reason="length"),
        pair("I'm sorry, but I can't help with that."),
    ]
    stats, rejects = FilterStats(), []
    kept = list(apply_filters(records, default_pair_filters(), stats, on_reject=rejects.append))
    assert kept == [records[0]]
    assert stats.dropped == {"truncated": 1, "refusal": 1, "exact_duplicate": 1}
    assert stats.rows()[0] == ("truncated", 4, 3, 1)
    assert dict((name, seen) for name, seen, _, _ in stats.rows())["near_duplicate"] == 1
    assert all(r.meta["reject_reason"].startswith(r.meta["rejected_by"]) for r in rejects)
    empty = FilterStats()
    assert list(apply_filters(iter([]), default_pair_filters(), empty)) == []
    assert [row[0] for row in empty.rows()][:2] == ["truncated", "instruction_length"]
    assert all(row[1:] == (0, 0, 0) for row in empty.rows())


def test_default_filter_lists_and_registry():
    pairs = default_pair_filters()
    assert [f.name for f in pairs] == [
        "truncated",
        "instruction_length",
        "template_leak",
        "refusal",
        "missing_input",
        "asks_for_code",
        "asks_for_genre",
        "ungrounded",
        "repetition",
        "length_ratio",
        "copies_passage",
        "exact_duplicate",
        "near_duplicate",
    ]
    passages = default_passage_filters()
    assert [f.name for f in passages] == [
        "passage_length",
        "text_ratio",
        "boilerplate",
        "standalone",
        "patch",
        "markup",
        "tool_output",
        "exact_duplicate",
    ]
    assert passages[-1].field == "output" and pairs[-1].field == "instruction" and pairs[-2].field == "prompt"
    assert set(FILTERS) >= {f.name for f in pairs + passages}
    assert all(cls.__doc__ and "\n" not in cls.__doc__.strip() for cls in FILTERS.values())
    # Fresh state per call: two pipelines do not share what they have seen.
    assert default_pair_filters()[-2] is not pairs[-2]


def test_default_filter_overrides():
    pairs = default_pair_filters(length_ratio={"max_ratio": 2.0}, near_duplicate=None)
    assert "near_duplicate" not in [f.name for f in pairs]
    assert next(f for f in pairs if f.name == "length_ratio").max_ratio == 2.0
    with pytest.raises(UserError, match="Unknown filter 'nope'"):
        default_pair_filters(nope={})
    with pytest.raises(UserError, match="Filter 'length_ratio' has no setting 'max'"):
        default_pair_filters(length_ratio={"max": 2})


def test_describe_records_the_settings():
    assert LengthRatio(max_ratio=2.0).describe() == {
        "name": "length_ratio",
        "version": 1,
        "min_ratio": None,
        "max_ratio": 2.0,
    }
    assert "threshold=0.8" in repr(NearDuplicate())
    described = json.loads(json.dumps([f.describe() for f in default_pair_filters() + default_passage_filters()]))
    assert described[-1] == {"name": "exact_duplicate", "version": 1, "field": "output"}


def test_every_filter_is_registered_with_its_stages_and_dedup_is_dataset_wide():
    import backtranslate.generate  # noqa: F401  (imports the modules of the model-backed filters)
    import backtranslate.merge  # noqa: F401
    from backtranslate.filters import register

    assert {"language", "relevance", "best_of_k", "contaminated", "curate", "duplicate_passage"} <= set(FILTERS)
    assert all(cls.stages and set(cls.stages) <= {"passage", "pair"} for cls in FILTERS.values())
    assert {n for n, cls in FILTERS.items() if cls.dataset_wide} == {
        "exact_duplicate",
        "near_duplicate",
        "duplicate_passage",
    }
    assert all("passage" in FILTERS[f.name].stages for f in default_passage_filters())

    class Clash(FILTERS["markup"]):
        name = "markup"

    with pytest.raises(ValueError, match="two filters are named 'markup'"):
        register(Clash)


def test_merge_reruns_the_dataset_wide_filters_of_the_runs_own_chain(monkeypatch):
    import dataclasses

    from backtranslate import generate
    from backtranslate.config import GenerateConfig
    from backtranslate.merge import merge_filters

    settings = dataclasses.asdict(GenerateConfig(near_duplicate_threshold=0.7))
    assert [f.name for f in merge_filters(settings)] == ["duplicate_passage", "exact_duplicate", "near_duplicate"]
    assert merge_filters(settings)[-1].threshold == 0.7
    assert [f.name for f in merge_filters({**settings, "filter": False})] == ["duplicate_passage"]

    class SameTopic(Filter):  # a new dataset-wide pair filter: merge must re-run it without being told
        """Keeps one pair per topic word."""

        name = "same_topic"
        dataset_wide = True

        def filter(self, record):
            return True

    real = generate.pair_filters
    monkeypatch.setattr(generate, "pair_filters", lambda cfg, sets, model=None: real(cfg, sets, model) + [SameTopic()])
    assert [f.name for f in merge_filters(settings)][-1] == "same_topic"


REVIEW_REPLY = """I don't think this is the right fix. The lock is already held by the caller,
so the warning is a false positive; an annotation on the caller would be the better way."""
PATCH = """Take the lock before reading the counter.

diff --git a/lib/count.c b/lib/count.c
@@ -10,3 +10,4 @@ int read_count(struct counter *c)
+\tspin_lock(&c->lock);
 \treturn c->value;"""


@pytest.mark.parametrize(
    "instruction,output,kept",
    [
        ("Write a patch that fixes the lockdep warning in read_count().", REVIEW_REPLY, False),
        ("Write a patch that fixes the lockdep warning in read_count().", PATCH, True),
        ("Write a Python function that reverses a list.", "Reverse it with slicing; it is the shortest way.", False),
        ("Write a Python function that reverses a list.", "```python\ndef rev(xs):\n    return xs[::-1]\n```", True),
        ("Write a code of conduct for our open-source project.", "Be kind. Assume good faith. Ask first.", True),
        ("Summarize the reviewer's objection to the patch.", REVIEW_REPLY, True),
        ("What is the patch for the lockdep warning?", REVIEW_REPLY, False),
        # Text about code is prose: a cover letter, a reply, a review (heldout3's primed mail).
        ("Write the cover letter for a patch series that fixes lockdep warnings.", REVIEW_REPLY, True),
        ("Write a reply to the patch below saying the lock is already held.", REVIEW_REPLY, True),
        ("Draft a review of the function, pointing out the false positive.", REVIEW_REPLY, True),
    ],
)
def test_asks_for_code_drops_a_request_for_code_or_a_patch_over_prose(instruction, output, kept):
    verdict = AsksForCode().filter(Record(output=output, instruction=instruction))
    assert (verdict is True) == kept
    if not kept:
        assert verdict[1].startswith(("asks for a patch", "asks for code"))


OFFICE_MAIL = """Subject: Second-floor move: what happens the week of March 10

Hi all,

The second floor is ready, and Engineering will move down from the fourth floor on March 12.
Please pack your desk by Tuesday evening; the movers start at 7 on Wednesday.

Thanks,
<PERSON_1>"""
DOCS_SECTION = """## Creating Posts

To create a post, add a file to your `_posts` directory named YEAR-MONTH-DAY-title.MARKUP,
where YEAR is a four-digit number and MARKUP is the file extension of the format used."""


@pytest.mark.parametrize(
    "instruction,output,meta,kept",
    [
        ("Write a blog post about the second-floor move.", OFFICE_MAIL, {}, False),
        ("Write a short IT news article about the move.", OFFICE_MAIL, {}, False),
        ("Draft an internal IT policy for the office move.", OFFICE_MAIL, {}, False),
        ("Write an email to the team about the second-floor move.", OFFICE_MAIL, {}, True),
        ("Write a memo telling Engineering when to pack for the move.", OFFICE_MAIL, {}, True),
        ("Write a short email to a new Jekyll user about posts.", DOCS_SECTION, {}, False),
        ("Write a short email to a new Jekyll user about posts.", DOCS_SECTION, {"format": "eml"}, True),
        ("Write a guide to creating Jekyll posts.", DOCS_SECTION, {}, True),
        ("Explain how to name a Jekyll post file.", DOCS_SECTION, {}, True),
    ],
)
def test_asks_for_genre_drops_a_request_for_another_kind_of_text(instruction, output, meta, kept):
    verdict = AsksForGenre().filter(Record(output=output, instruction=instruction, meta=meta))
    assert (verdict is True) == kept
    if not kept:
        assert "e-mail" in verdict[1]


BOOK_SECTION = """## Refactoring with Structs

Our area function is supposed to calculate the area of one rectangle, but the function we wrote
has two parameters, and it is not clear anywhere in our program that the parameters are related.
It would be more readable to group width and height together.

```rust
fn area(dimensions: (u32, u32)) -> u32 {
    dimensions.0 * dimensions.1
}
```

In one way this program is better: tuples add a bit of structure. In another way it is less
clear: tuples do not name their elements, so we have to index into the parts of the tuple."""


@pytest.mark.parametrize(
    "instruction,output,kept",
    [
        ("Write a Rust function that returns the area of a rectangle.", BOOK_SECTION, False),
        ("Explain why a tuple makes the area function less clear.", BOOK_SECTION, True),
        ("Write a Rust function that returns the area of a rectangle.", BOOK_SECTION.split("```")[1], True),
    ],
)
def test_asks_for_code_wants_a_function_to_be_most_of_the_output(instruction, output, kept):
    verdict = AsksForCode().filter(Record(output=output, instruction=instruction))
    assert (verdict is True) == kept
    if not kept:
        assert verdict[1].startswith("asks for a function, the output is mostly prose")
    assert AsksForCode(min_code_share=None).filter(Record(output=BOOK_SECTION, instruction=instruction)) is True


def test_a_passages_own_header_is_no_request_for_code_or_another_genre():
    # A docs heading and a reply's subject name code; asked by them (priming.closed, kept in
    # meta.primer), the instruction asks for the section or the reply, not for a function or a patch.
    heading = 'Write the section "Function-Like Macros" of the documentation page "Macros".'
    reply = "Reply to the message below about \"compiler_types.h: add 'auto' as a macro for '__auto_type'\"."
    for asked, output in ((heading, BOOK_SECTION), (reply, "Looks good to me.\n\nThanks, applied.")):
        written = Record(output=output, instruction=asked, meta={"primer": asked[:13]})
        assert AsksForCode().filter(written)[0] is False  # the same words from the model are checked
        assert AsksForCode().filter(Record(output=output, instruction=asked, meta={"primer": asked})) is True
    # An open letter a page declares an article opens like a mail; its headline asks for the article.
    headline = 'Write an article headlined "An open letter to the staff about Friday".'
    written = Record(output=PASSAGE, instruction=headline, meta={"primer": "Write an article"})
    assert AsksForGenre().filter(written)[0] is False
    assert AsksForGenre().filter(Record(output=PASSAGE, instruction=headline, meta={"primer": headline})) is True


NEWS = """Helicopter crash kills 12 in eastern Afghanistan

A military helicopter crashed in the mountains of Kunar province on Tuesday, killing all 12
people on board, officials said. The cause of the crash is not yet known; the weather in the
valley had been poor since Monday. The 2019 fleet review had grounded two of the same model."""


@pytest.mark.parametrize(
    "instruction,kept,missing",
    [
        ("What is known about the helicopter crash in Afghanistan?", True, []),
        ("What caused the helicopter crash in the Philippines?", False, ["Philippines"]),
        ("Summarize the news about the crash. How many people died?", True, []),  # sentence capitals
        ("Write a 10-minute briefing on the 2018 helicopter crash.", False, ["10-minute", "2018"]),
        ("Why was the 2019 fleet review relevant to the crash in Kunar?", True, []),
        ("What are the top 3 facts about the crash?", True, []),  # a one-digit count is not checked
        ("Which `ww_acquire_done()` call did the crash report mention?", False, ["ww_acquire_done()"]),
        ("I want a short summary of the crash for my newsletter.", True, []),
    ],
)
def test_ungrounded_drops_an_instruction_that_names_what_the_pair_lacks(instruction, kept, missing):
    verdict = Ungrounded().filter(Record(output=NEWS, instruction=instruction))
    assert (verdict is True) == kept
    assert grounding.ungrounded(instruction, NEWS) == missing
    if not kept:
        assert verdict[1].startswith("names what the pair does not have: ")
    # What the input holds counts too: a reply's instruction may name its parent's words.
    with_input = Ungrounded().filter(Record(output=NEWS, input="Re: the Philippines", instruction=instruction))
    assert (with_input is True) == (kept or missing == ["Philippines"])


def test_an_articles_own_headline_is_not_checked_for_grounding():
    # A headline's capitals read as names: "Weird" and "Plumes" are nowhere in the opening.
    asked = 'Write the opening paragraphs of an article headlined "The Weird Plumes of Kunar Province".'
    assert grounding.ungrounded(asked, NEWS) == ["Weird", "Plumes"]
    # Asked by the page's own headline (priming.closed, kept in meta.primer): nothing to check.
    assert Ungrounded().filter(Record(output=NEWS, instruction=asked, meta={"primer": asked})) is True
    # The same words written by the model after its primer are checked as the model's.
    written = Record(output=NEWS, instruction=asked, meta={"primer": "Write the opening paragraphs of"})
    assert Ungrounded().filter(written)[0] is False


def test_ungrounded_reads_cpp_as_its_name_not_as_the_letter_c():
    patch = "Include <asm/processor.h> in lib/foo.c so that cpu_relax() is declared.\n"
    assert grounding.ungrounded("Write a C++ function that spins on a lock.", patch) == ["C++"]
    assert grounding.ungrounded("Write a C function that spins on a lock.", patch) == []
    assert grounding.ungrounded("Port this C++ helper to C#.", "A C++ helper, and its C# port.") == []


PATCH_MAIL = """Subject: [PATCH v2 2/3] sparse: add the missing include for cpu_relax()

cpu_relax() is used in lib/spin.c without its header, which breaks the build on arm64.

diff --git a/lib/spin.c b/lib/spin.c
--- a/lib/spin.c
+++ b/lib/spin.c
@@ -1,3 +1,4 @@
+#include <asm/processor.h>
 #include <linux/spinlock.h>
"""
COVER_LETTER = """Subject: [PATCH 0/3] sparse: fix three build warnings

This series fixes the three warnings that the arm64 build shows since the last release."""
LIST_REPLY = """Subject: Re: [GIT PULL] sparse fixes for 0.6.5

I would rather wait for v4 before tagging; the second patch still warns on arm64."""


@pytest.mark.parametrize(
    "instruction,output,meta,has_input,why",
    [
        ("What is the difference between cpu_relax and barrier?", PATCH_MAIL, {"patch": True}, False, "patch"),
        ("Explain why the build breaks on arm64.", PATCH_MAIL, {"patch": True}, False, "patch"),
        ("Write a patch that adds the missing include for cpu_relax().", PATCH_MAIL, {"patch": True}, False, None),
        ("Can you send a patch that fixes the arm64 build?", PATCH_MAIL, {"patch": True}, False, None),
        ("Which warnings does the series fix?", COVER_LETTER, {"subject": "[PATCH 0/3] sparse: fix"}, False, "cover"),
        ("Which warnings does the series fix?", LIST_REPLY, {"subject": "Re: [PATCH 0/3] sparse: fix"}, False, None),
        # A stable backport's cover letter names its branch after the count.
        ("What is the minmax bug in 6.1.y?", COVER_LETTER, {"subject": "[PATCH 00/19 v6.1.y] minmax"}, False, "cover"),
        ("What is the minmax bug in 6.1.y?", COVER_LETTER, {"subject": "[PATCH 10/19 v6.1.y] minmax"}, False, None),
        (
            "Write a cover letter for a series fixing three warnings.",
            COVER_LETTER,
            {"subject": "[PATCH 0/3]"},
            False,
            None,
        ),
        ("Write a release announcement for sparse 0.6.5.", LIST_REPLY, {}, True, "reply"),
        ("Write a pull request for the sparse fixes.", LIST_REPLY, {"subject": "Re: [GIT PULL] x"}, False, "reply"),
        ("Reply to the pull request saying you would wait for v4.", LIST_REPLY, {}, True, None),
        ("Write a release announcement for sparse 0.6.5.", LIST_REPLY, {}, False, None),  # a message, not a reply
    ],
)
def test_asks_for_genre_knows_patches_cover_letters_and_replies(instruction, output, meta, has_input, why):
    context = "the message answered" if has_input else ""
    record = Record(output=output, input=context, instruction=instruction, meta={"format": "mbox", **meta})
    verdict = AsksForGenre().filter(record)
    if why is None:
        assert verdict is True
    else:
        assert verdict[0] is False and why in verdict[1]
    # The same text outside mail (a Markdown page quoting it) is not judged by a mail's kind.
    as_page = Record(output=output, input=context, instruction=instruction, meta={"format": "md", **meta})
    assert AsksForGenre().filter(as_page) is True or why is None

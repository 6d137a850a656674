import pytest

from backtranslate.errors import UserError
from backtranslate.records import Record
from backtranslate.templates import REVERSE_TASK, TEMPLATES, get_template, parse_generation, render


def test_reverse_prompt_is_the_seed_blog_template():
    t = get_template("reverse")
    r = Record(output="Dear team, the office is closed on Friday.", instruction="Write an office-closure note.")
    assert t.prompt(r) == (
        "### Instruction:\nUse the Input below to create an instruction, which could have been used to "
        "generate the input using an LLM.\n\n### Input:\nDear team, the office is closed on Friday."
        "\n\n### Response:\n"
    )
    assert t.completion(r) == "Write an office-closure note."


def test_reverse_prompt_shows_the_seed_input_as_context():
    r = Record(output="Three bullet points.", instruction="Summarize the notes.", input="Long meeting notes")
    prompt = get_template("reverse").prompt(r)
    assert "### Context:\nLong meeting notes\n\n### Input:\nThree bullet points." in prompt


def test_chat_template_builds_messages_and_renders_with_the_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    t = get_template("chat")
    r = Record(output="Hello there.", instruction="Greet me.")
    prompt = t.prompt(r)
    assert prompt[0]["role"] == "user" and REVERSE_TASK in prompt[0]["content"]
    assert t.completion(r) == [{"role": "assistant", "content": "Greet me."}]
    text = render(prompt, AutoTokenizer.from_pretrained(tiny_model_dir))
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")


def test_alpaca_forward_prompt_with_and_without_input():
    t = get_template("alpaca")
    with_input = t.prompt(Record(output="o", instruction="Translate.", input="Bonjour"))
    assert with_input.startswith("Below is an instruction that describes a task, paired with an input")
    assert with_input.endswith("### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:\n")
    no_input = t.prompt(Record(output="o", instruction="Tell a joke."))
    assert "### Input" not in no_input and no_input.endswith("### Instruction:\nTell a joke.\n\n### Response:\n")
    assert t.completion(Record(output="The answer.", instruction="q")) == "The answer."


@pytest.mark.parametrize(
    "generated, expected",
    [
        ("Write a polite reminder about the invoice.", "Write a polite reminder about the invoice."),
        ("  Write a haiku.\n\n### Input:\nsomething else", "Write a haiku."),
        ("Instruction: Summarize the memo.<|im_end|>junk", "Summarize the memo."),
        ('"Draft a thank-you note."', "Draft a thank-you note."),
        ("### Response:\nnothing", ""),
        ("", ""),
    ],
)
def test_parse_reverse_generation(generated, expected):
    assert parse_generation(generated) == expected
    assert get_template("reverse").parse(generated) == expected


def test_forward_parse_keeps_markdown_headings_but_cuts_new_sections():
    text = "### Steps\n1. Open it.\n\n### Instruction:\nmore"
    assert get_template("alpaca").parse(text) == "### Steps\n1. Open it."


def test_registry_and_unknown_template():
    assert {"reverse", "chat", "alpaca"} <= set(TEMPLATES)
    with pytest.raises(UserError, match="Unknown template 'nope'"):
        get_template("nope")


def test_titled_reverse_prompt_shows_the_page_and_section_above_the_passage():
    passage = Record(
        output="## Eviction\n\nOldest entries go first.",
        meta={"title": "Caching results", "headings": ["Caching results", "Eviction"]},
    )
    prompt = get_template("reverse-titled").prompt(passage)
    assert "### Title:\nCaching results > Eviction\n\n### Input:\n## Eviction" in prompt
    mail = Record(output="It still fails.", input="Subject: Build fails\n\nHelp?", meta={"subject": "Re: Build fails"})
    assert "### Title:\nRe: Build fails\n\n### Context:\nSubject: Build fails" in get_template("reverse-titled").prompt(
        mail
    )
    # Without a title the prompt is the plain reverse prompt, and the plain template never shows one.
    bare = Record(output="Dear team, the office is closed on Friday.")
    assert get_template("reverse-titled").prompt(bare) == get_template("reverse").prompt(bare)
    assert "Title" not in get_template("reverse").prompt(passage)
    assert "Title: Caching results > Eviction\n\nInput:\n" in get_template("chat-titled").prompt(passage)[0]["content"]


def test_the_shipped_seed_carries_titles_for_the_titled_template():
    from backtranslate.readers.seed import load_seed

    titled = [r for r in load_seed().records if r.meta.get("title")]
    assert len(titled) >= 150 and sum(" > " in r.meta["title"] for r in titled) >= 30  # page > section paths

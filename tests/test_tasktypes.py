"""The task-type taxonomy on real instructions (from the shipped seed and from kept pairs of
real-corpus runs), the mix's numbers, and the collapse warning."""

import pytest

from backtranslate.tasktypes import TYPES, opening, task_mix, task_type


@pytest.mark.parametrize(
    "instruction, expected",
    [
        ("Write a polite email to a customer requesting a replacement laptop.", "write"),
        ("Write a Rust function that prints the values of all fields of a Rectangle struct.", "code"),
        ("What are the most important concepts in Rust programming?", "answer"),
        ("What is the difference between a type checker and a static analyzer?", "answer"),
        ("Help me rewrite the following complaint so it's calm.", "answer"),
        ("Rewrite the following complaint so it's calm and more likely to get a helpful response.", "rewrite"),
        ("Fix the grammar in this sentence: \"Me and him was going to attend the meeting.\"", "rewrite"),
        ("Summarize the following thread in three bullet points.", "summarize"),
        ("Write a short summary of the release notes below.", "summarize"),
        ("From the given invoice text, extract the invoice number and the due date.", "extract"),
        ("List every date and deadline mentioned in the following email.", "write"),
        ("Classify the following review as positive or negative.", "classify"),
        ("Assign each headline to one of these categories: Business, Sports, Science.", "classify"),
        ("Explain why the build fails on Windows.", "explain"),
        ("Review the quire patch below that adds an HTML minify option.", "code"),
        ("Outline a plan for migrating the wiki to the new server.", "plan"),
        ("I can't make the Thursday budget review. Write an email declining it.", "write"),
        ("Put these events in chronological order.", "answer"),
    ],
)
def test_task_type_of_real_instructions(instruction, expected):
    assert task_type(instruction) == expected


def test_mix_counts_entropy_and_top_opening():
    mix = task_mix(["Write a poem.", "Write a story.", "What is DNS?", "Explain why the sky is blue."])
    assert mix["types"] == {"write": 2, "explain": 1, "answer": 1}
    # 2/4, 1/4, 1/4 over the 10 types: -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) / ln 10
    assert mix["entropy"] == pytest.approx(1.0397 / 2.3026, abs=1e-3)
    assert (mix["top_opening"], mix["top_opening_share"]) == ("write a", 0.5)
    assert mix["warning"] == ""  # too few pairs to call a collapse
    assert set(mix["types"]) <= set(TYPES) and opening("  Write, a poem") == "write a"


def test_a_collapsed_mix_is_named_with_its_numbers():
    mix = task_mix(["Write a short email to the team."] * 8 + ["What is DNS?", "Explain TCP."])
    assert mix["top_type_share"] == 0.8
    assert mix["warning"].startswith(
        "Task mix collapsed: 80% of the instructions are 'write' tasks and 80% start with 'write a'"
    )
    assert task_mix(["Write a poem.", "What is DNS?", "Explain TCP.", "Summarize this text."] * 3)["warning"] == ""


def test_generate_records_the_mix_in_stats_and_card(tiny_adapter, tmp_path):
    import json

    from backtranslate.generate import generate
    from tests.test_generate import _cfg

    generate(_cfg(tiny_adapter, tmp_path, filter=False, max_passages=12))
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "ds" / "data.jsonl").read_text().splitlines()]
    assert stats["task_mix"] == task_mix(r["instruction"] for r in rows)
    assert "- task types: " in (tmp_path / "ds" / "README.md").read_text()

"""The task-type taxonomy on real instructions (from the shipped seed and from kept pairs of
real-corpus runs), the mix's numbers, the collapse warning, and --balance: its choice among a
passage's candidates, its checks, a run's stats and card, and a resumed run's bytes."""

import json
import shutil
from pathlib import Path

import pytest

from backtranslate.config import GenerateConfig
from backtranslate.filters import FilterStats, apply_filters
from backtranslate.filters.selection import BestOfK
from backtranslate.records import Record
from backtranslate.tasktypes import TYPES, folder_mix, opening, parse_target, task_mix, task_type

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
# Hand-labelled; the source of each: seed (backtranslate/data/seed.jsonl), or a real-corpus run's
# kept pairs (runs/real-bench/<run>/<corpus>/data.jsonl); a few written for a rule.
LABELLED = [
    ("Write a polite email to a customer requesting a replacement laptop.", "write"),
    ("Write a Rust function that prints the values of all fields of a Rectangle struct.", "code"),
    ("What are the most important concepts in Rust programming?", "answer"),
    ("What is the difference between a type checker and a static analyzer?", "answer"),
    ("Help me rewrite the following complaint so it's calm.", "rewrite"),  # a lead-in before the verb
    ("Rewrite the following complaint so it's calm and more likely to get a helpful response.", "rewrite"),
    ("Fix the grammar in this sentence: \"Me and him was going to attend the meeting.\"", "rewrite"),
    ("Summarize the following thread in three bullet points.", "summarize"),
    ("Write a short summary of the release notes below.", "summarize"),
    ("From the given invoice text, extract the invoice number and the due date.", "extract"),
    ("List every date and deadline mentioned in the following email.", "extract"),
    ("Classify the following review as positive or negative.", "classify"),
    ("Assign each headline to one of these categories: Business, Sports, Science.", "classify"),
    ("Explain why the build fails on Windows.", "explain"),
    ("Review the quire patch below that adds an HTML minify option.", "code"),
    ("Outline a plan for migrating the wiki to the new server.", "plan"),
    ("I can't make the Thursday budget review. Write an email declining it.", "write"),
    ("Put these events in chronological order.", "answer"),
    # seed
    (
        "Turn these notes into one clear sentence for a status report: website redesign - 80% done - "
        "waiting on final copy from marketing - launch still on track for the 30th",
        "rewrite",
    ),
    ("Extract the action items from these meeting notes, with the owner and due date for each.", "extract"),
    (
        'Is the following a question, a request, or a statement? "I was wondering if you could send me the '
        'updated contract."',
        "classify",
    ),
    (
        'What is the sentiment of this post? "Three hours on hold with my internet provider and they still '
        "couldn't fix it. Fantastic way to spend a Saturday.\"",
        "classify",
    ),
    ("Identify the customer's intent: cancel, upgrade, complaint, or question.", "classify"),
    ("What genre is the given book, based on its blurb?", "classify"),
    ("Fact-check the following sentence and correct any errors.", "rewrite"),
    ("Convert the following Python code to JavaScript.", "code"),
    (
        "Can you write up the Linnet River's annual cleanup day, where 400 volunteers pulled out about four "
        "tons of trash, as a local news story?",
        "write",
    ),
    (  # an essay that mentions SQL is not a request for code
        "Write an opinion blog post arguing that small projects are often better off writing plain SQL instead "
        "of using an ORM, while acknowledging when an ORM is worth it.",
        "write",
    ),
    (
        "brindle panics with a nil pointer dereference in OpenStore() when the config has no [storage] section. "
        "Send a patch that validates this in Load() and returns a readable error.",
        "code",
    ),
    (
        "Ask the ledgerly developers whether the plugin hooks (on_invoice_created etc.) are covered by any "
        "stability guarantee, explaining the plugin you maintain and the breakage you hit.",
        "write",
    ),
    ("What is DNS? Explain it to someone who isn't technical.", "answer"),
    # real-corpus runs
    (
        "Write a brief email to the DataOps Summit team asking for a 2-week budget upgrade to the data analytics platform.",
        "write",
    ),
    ("What is the new iOS 13 FaceTime Attention Correction feature?", "answer"),
    ("Write a patch to remove warnings from the riscv_flags and extensions flags in the riscv_flags.c file.", "code"),
    ("Write a Rust function that adds one to a given number.", "code"),
    ("Question: How do I backup my scp repository?", "explain"),
    ("Explain how to override global permalinks in _config.yml.", "explain"),
    ("Write a stub for the `Box<dyn Error>` trait in Haskell.", "code"),
    ("List the steps to rotate the VPN certificate before it expires.", "plan"),
]


@pytest.mark.parametrize("instruction, expected", LABELLED)
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
    assert str(task_mix(["Write a poem."] * 3)["entropy"]) == "0.0" and task_mix([])["entropy"] == 0.0


def test_a_collapsed_mix_is_named_with_its_numbers():
    mix = task_mix(["Write a short email to the team."] * 8 + ["What is DNS?", "Explain TCP."])
    assert mix["top_type_share"] == 0.8
    assert mix["warning"].startswith(
        "Task mix collapsed: 80% of the instructions are 'write' tasks and 80% start with 'write a'"
    )
    assert "--balance" in mix["warning"]
    assert task_mix(["Write a poem.", "What is DNS?", "Explain TCP.", "Summarize this text."] * 3)["warning"] == ""
    # Where the primer made the mix, best of K cannot change it (a passage's candidates share it).
    primed = task_mix(["Write an article about the vote."] * 9 + ["What is DNS?"], primed=9)
    assert primed["primed_share"] == 0.9 and "90% open with --prime's primer" in primed["warning"]
    assert "--no-prime" in primed["warning"] and "--balance" not in primed["warning"]


def test_a_balanced_run_that_missed_its_target_says_so():
    instructions = ["Write a short email to the team."] * 7 + ["What is DNS?"] * 2 + ["Explain TCP."]
    mix = task_mix(instructions, "write=0.3,answer=0.4")
    assert mix["warning"].startswith(
        "--balance could not reach the target (write=0.3,answer=0.4): write 70% (target 30%); answer 20% "
        "(target 40%); 70% of the instructions are 'write' tasks and 70% start with 'write a'"
    )
    # uniform has no shares to miss, only a collapse; a mix near its target is quiet
    assert task_mix(instructions, "uniform")["warning"].startswith(
        "--balance could not reach the target (uniform): 70%"
    )
    assert task_mix(instructions, "write=0.6,answer=0.3")["warning"].startswith("--balance could not reach")  # collapse
    assert (
        task_mix(["Write a poem.", "What is DNS?", "Explain TCP."] * 4, "write=0.3,answer=0.3,explain=0.3")["warning"]
        == ""
    )


def test_balance_targets_parse_or_say_what_is_wrong():
    assert parse_target("uniform") is None and parse_target(None) is None
    target = parse_target("write=0.3, answer=0.2")
    assert target["write"] == 0.3 and target["answer"] == 0.2 and target["code"] == pytest.approx(0.5 / 8)
    assert sum(target.values()) == pytest.approx(1.0)
    for spec, message in [
        ("poem=0.5", "unknown task type 'poem'"),
        ("write=lots", "must be a number"),
        ("write=0.8,answer=0.4", "add up to 1.2"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_target(spec)


def _candidate(passage, index, score, instruction):
    return Record(
        output=f"passage {passage}",
        instruction=instruction,
        id=f"{passage}-{index}",
        meta={"passage_id": passage, "candidate": index, "relevance": score},
    )


def test_balance_keeps_the_under_represented_type_among_near_ties():
    arriving = [
        # p: the best is a 'write'; an 'answer' 0.03 below is a near-tie; a 'summarize' 0.2 below is not
        _candidate("p", 0, 0.50, "Write an email to the team about the outage."),
        _candidate("p", 1, 0.47, "What caused the outage on Monday?"),
        _candidate("p", 2, 0.30, "Summarize the outage report."),
        # q: a tie between a 'write' and an 'answer': the type with fewer so far (answer has 1, write 5)
        _candidate("q", 0, 0.40, "Write a reply to the customer."),
        _candidate("q", 1, 0.40, "What did the customer ask for?"),
    ]
    plain = [r.id for r in apply_filters(arriving, [BestOfK()], FilterStats())]
    assert plain == ["p-0", "q-0"]
    for r in arriving:
        r.meta.pop("reject_reason", None)

    balanced = BestOfK(balance="uniform", margin=0.05)
    balanced.balancer.kept.update({"write": 5})
    balanced.balancer.start_chunk()
    stats, rejects = FilterStats(), []
    kept = list(apply_filters(arriving, [balanced], stats, on_reject=rejects.append))
    assert [r.id for r in kept] == ["p-1", "q-1"]  # q: answer has 1 of the 6 so far, write 5
    assert kept[0].meta["task_type"] == "answer"
    assert rejects[0].meta["reject_reason"] == (
        "best_of_k: --balance kept candidate 1, a 'answer' task (further under the target mix), "
        "within 0.05 of the best score (0.47 vs 0.5)"
    )
    assert stats.dropped["best_of_k"] == 3
    assert balanced.balancer.counts == {"write": 5, "answer": 2}


def test_a_named_target_wins_over_rarity():
    arriving = [
        _candidate("p", 0, 0.40, "What did the customer ask for?"),
        _candidate("p", 1, 0.40, "Write a reply to the customer."),
    ]
    balanced = BestOfK(balance="write=0.9")
    balanced.balancer.kept.update({"write": 5, "answer": 1})
    balanced.balancer.start_chunk()
    assert [r.id for r in apply_filters(arriving, [balanced], FilterStats())] == ["p-1"]  # write 5/6 < 0.9


def test_balance_needs_several_candidates_and_the_filters():
    problems = GenerateConfig(balance="uniform").validate()
    assert any("add --num-candidates 4" in p for p in problems)
    problems = GenerateConfig(balance="uniform", num_candidates=4, filter=False).validate()
    assert any("--no-filter" in p for p in problems)
    assert any("unknown task type 'poem'" in p for p in GenerateConfig(balance="poem=1", num_candidates=4).validate())
    assert GenerateConfig(balance="write=0.3,answer=0.2", num_candidates=4).validate() == []


def test_generate_records_the_mix_in_stats_and_card(tiny_adapter, tmp_path):
    from backtranslate.generate import generate
    from tests.test_generate import _cfg

    generate(_cfg(tiny_adapter, tmp_path, filter=False, max_passages=12))
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "ds" / "data.jsonl").read_text().splitlines()]
    assert stats["task_mix"] == task_mix(r["instruction"] for r in rows) == folder_mix(tmp_path / "ds")
    assert "- task types: " in (tmp_path / "ds" / "README.md").read_text()


def _balanced(model, out, **kw):
    # The fake backend samples Write/Explain/Describe/Summarize openings: a mix for --balance to steer.
    settings = dict(
        corpus=str(CORPORA),
        out=str(out),
        model=str(model),
        backend="fake",
        num_candidates=3,
        balance="uniform",
        max_new_tokens=48,
        batch_size=2,
        precision="fp32",
    )
    return GenerateConfig(**{**settings, **kw})


def test_a_balanced_run_records_its_mix_and_moves_it(tiny_model_dir, tmp_path):
    from backtranslate.generate import generate

    generate(_balanced(tiny_model_dir, tmp_path / "plain", balance=None, max_passages=40))
    generate(_balanced(tiny_model_dir, tmp_path / "balanced", max_passages=40))
    plain, balanced = folder_mix(tmp_path / "plain"), folder_mix(tmp_path / "balanced")
    stats = json.loads((tmp_path / "balanced" / "stats.json").read_text())
    assert stats["task_mix"] == balanced and balanced["balance"] == "uniform"
    # A primer would open every candidate of a passage alike: --balance runs without one.
    assert stats["settings"]["prime"] is False
    assert json.loads((tmp_path / "plain" / "stats.json").read_text())["settings"]["prime"] is True
    assert balanced["entropy"] > plain["entropy"]
    assert balanced["types"].get("summarize", 0) > plain["types"].get("summarize", 0)
    card = (tmp_path / "balanced" / "README.md").read_text()
    assert "- task types: " in card and "steered by `--balance uniform`" in card
    rejects = [json.loads(line) for line in (tmp_path / "balanced" / "rejected.jsonl").read_text().splitlines()]
    assert any("--balance kept candidate" in r["reason"] for r in rejects)


def test_a_balanced_run_resumed_after_a_crash_is_byte_identical(tiny_model_dir, tmp_path):
    """Cut a finished balanced run back to its first chunks, as a kill leaves it (resume.py), and
    resume: the balance must restart from the types the finished chunks kept."""
    from backtranslate.generate import generate

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    generate(_balanced(tiny_model_dir, clean, max_passages=40))
    shutil.copytree(clean, killed)
    lines = (killed / "progress.jsonl").read_text().splitlines()
    assert len(lines) >= 3
    (killed / "progress.jsonl").write_text("\n".join(lines[:2]) + "\n")  # two chunks finished
    run = json.loads((killed / "run.json").read_text())
    (killed / "run.json").write_text(json.dumps({**run, "done": False}))
    for name in ("data.json", "stats.json", "README.md"):
        (killed / name).unlink()
    generate(_balanced(tiny_model_dir, killed, max_passages=40))
    for name in ("data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl"):
        assert (killed / name).read_text() == (clean / name).read_text(), name
    stats = [json.loads((folder / "stats.json").read_text()) for folder in (clean, killed)]
    assert stats[0]["task_mix"] == stats[1]["task_mix"]

"""--rewrite: the faithfulness check on hand-made rewrites of a real-shaped passage, the stage's
bookkeeping, and a generate run with a real (tiny) rewriting model (its resume: test_resume.py)."""

import json

import pytest
from quick_configs import quick_generate

from backtranslate.generate import generate
from backtranslate.records import Record
from backtranslate.rewrite import REWRITE_KEY, Faithfulness, Rewrite, Support, sentences

PASSAGE = (
    "Subject: VPN maintenance on Saturday\n\n"
    "The VPN gateway will be upgraded on Saturday 18 January between 08:00 and 11:00. "
    "During the window remote access will not be available. "
    "Staff in the Lisbon office are not affected because they use the local network. "
    "If you need access during the upgrade, contact <PERSON_1> before Friday."
)


@pytest.fixture(scope="module")
def check():
    return Faithfulness()


def test_a_faithful_rewrite_is_supported(check):
    rewrite = (
        "Sure, here is what you need to know. The VPN gateway is being upgraded on Saturday 18 January "
        "from 08:00 to 11:00, and remote access will not be available during that window. "
        "If you need access during the upgrade, contact <PERSON_1> before Friday."
    )
    support = check.check(rewrite, PASSAGE)
    assert support.score == 1.0 and support.claims == 2 and not support.unsupported


@pytest.mark.parametrize(
    "planted, why",
    [
        ("The VPN gateway will be upgraded on Saturday 19 January between 08:00 and 11:00.", "'19' not in"),
        ("Staff in the Porto office are not affected because they use the local network.", "'Porto' not in"),
        ("During the window remote access will be available as usual.", "negation differs"),
        ("The new gateway doubles the bandwidth available to every remote employee.", "no span"),
        ("If you need access during the upgrade, contact <PERSON_2> before Friday.", "'<PERSON_2>' not in"),
    ],
)
def test_a_planted_unsupported_claim_is_caught_and_named(check, planted, why):
    support = check.check(f"The maintenance is planned for the weekend and affects remote staff. {planted}", PASSAGE)
    assert support.score < 1.0
    assert any(why in u for u in support.unsupported), support.unsupported


def test_sentences_keep_decimals_and_split_lines():
    assert sentences("Version 2.5 is out. It fixes 3 bugs!\nSee notes") == [
        "Version 2.5 is out.",
        "It fixes 3 bugs!",
        "See notes",
    ]


def _stage(min_support=1.0):
    class Named:  # the stage reads only the rewriter's batch size in _apply's path
        batch_size = 4

    return Rewrite(Named(), Faithfulness.__new__(Faithfulness), min_support)


@pytest.mark.parametrize(
    "text, finish, support, kept, reason",
    [
        ("An answer that says one thing.", "stop", Support(1.0, 1), True, ""),
        ("[1]: <URL_1> [2]: <URL_2>", "stop", Support(1.0, 0), False, "no checkable claim"),
        ("", "stop", Support(1.0, 0), False, "empty rewrite"),
        ("An answer that ran on", "length", Support(1.0, 1), False, "rewrite cut at max_new_tokens"),
        (
            "Code review is a value of good teams. It helps. Code review is a value of good teams.",
            "stop",
            Support(1.0, 2),
            False,
            "repetitive rewrite",
        ),
        ("Two claims.", "stop", Support(0.5, 2, ["x: y"]), False, "unfaithful: 1 of 2 claims unsupported"),
    ],
)
def test_the_stage_keeps_a_supported_rewrite_else_the_passage_with_the_reason(text, finish, support, kept, reason):
    stage = _stage()
    stage.check.min_similarity = 0.5
    r = Record(instruction="Do it.", output="The passage.", id="p1")
    stage._apply(r, text, finish, support)
    meta = r.meta[REWRITE_KEY]
    assert meta["kept"] is kept and meta["reason"] == reason and meta["original"] == "The passage."
    assert r.output == (text if kept else "The passage.")
    assert stage.totals["rewritten"] == 1 and stage.totals["kept"] == int(kept)


def _cfg(model, rewriter, out, **kw):
    return quick_generate(
        model,
        out,
        email_mode="message",
        filter=False,
        max_passages=10,
        rewrite=str(rewriter),
        rewrite_max_new_tokens=24,
        **kw,
    )


def test_generate_with_rewrite_records_provenance(tiny_adapter, lively_model_dir, tmp_path):
    full = tmp_path / "full"
    result = generate(_cfg(tiny_adapter, lively_model_dir, full))
    rows = [json.loads(line) for line in (full / "data.jsonl").read_text().splitlines()]
    assert len(rows) == 10
    for row in rows:
        meta = row["meta"][REWRITE_KEY]
        assert set(meta) >= {"text", "original", "score", "kept", "reason"}
        # the tiny model writes noise: whatever the check decided, output follows it
        assert row["output"] == (meta["text"] if meta["kept"] else meta["original"])
        assert meta["kept"] or meta["reason"]
    summary = result.stats["rewrite"]
    assert summary["rewritten"] == 10 and summary["kept"] + sum(summary["fell_back"].values()) == 10
    assert "rewritten by" in (full / "README.md").read_text()

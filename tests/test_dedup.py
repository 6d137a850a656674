import json

from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.filters.minhash import NearDuplicateIndex, Sketcher, near_duplicate_clusters

runner = CliRunner()
BODY = (
    "The quarterly budget review moved to Thursday at two in the large meeting room on the third floor. "
    "Please bring the updated forecast, the list of open purchase orders, any questions about travel "
    "spending, and the draft hiring plan for next year so we can settle headcount before the board meeting."
)
ASK = (
    "Write an email to the finance team moving the quarterly budget review meeting to Thursday afternoon "
    "and asking for the updated forecast."
)


def test_clusters_group_near_duplicates_transitively_and_leave_the_rest():
    one = BODY.replace("two", "three")  # one word changed
    two = one.replace("purchase", "sales")  # and another
    three = two.replace("headcount", "the budget")  # and a third: far from BODY itself
    texts = [BODY, ASK, one, "Explain how to reset a forgotten VPN password.", two, "", three, ASK + "!"]
    sketcher = Sketcher()
    assert sketcher.sketch(BODY).jaccard(sketcher.sketch(three)) < 0.8  # joined through the chain only
    assert near_duplicate_clusters(texts, 0.8) == [[0, 2, 4, 6], [1, 7]]
    assert near_duplicate_clusters([BODY, ASK, texts[3], ""], 0.8) == []


def test_the_index_keeps_the_first_and_names_it():
    sketcher, index = Sketcher(), NearDuplicateIndex(0.8)
    first = sketcher.sketch(BODY)
    assert index.match(first) is None
    index.add("p1", first)
    match = index.match(sketcher.sketch(BODY.replace("two", "three")))
    assert match is not None and match[0] == "p1" and match[1] >= 0.8
    assert (
        index.match(sketcher.sketch("An unrelated note about the office plants and watering them on Fridays.")) is None
    )
    assert sketcher.sketch("...") is None


def test_dedup_cli_drops_exact_and_near_copies_on_either_field(tmp_path):
    rows = [
        {"instruction": "Announce the budget review move.", "output": BODY},
        {"instruction": "Tell finance the review moved.", "output": BODY.replace("two", "three")},  # near output
        {
            "instruction": "announce the budget review move",
            "output": "Something else entirely, a new text.",
        },  # exact instruction
        {"instruction": "Describe the VPN setup steps.", "output": "Install the client, sign in, and connect."},
    ]
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps({**r, "input": ""}) + "\n" for r in rows))
    out = tmp_path / "dedup"
    result = runner.invoke(app, ["dedup", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dedup summary" in result.output
    kept = json.loads((out / "data.json").read_text())
    assert [r["instruction"] for r in kept] == [rows[0]["instruction"], rows[3]["instruction"]]
    rejected = {
        r["instruction"]: r["reason"] for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())
    }
    assert rejected[rows[1]["instruction"]].startswith("near_duplicate_output: near duplicate of ")
    assert rejected[rows[2]["instruction"]].startswith("exact_duplicate_instruction: duplicate of ")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dropped"] == {"exact_duplicate_instruction": 1, "near_duplicate_output": 1} and stats["kept"] == 2
    assert (out / "README.md").read_text().startswith("---\n")

    only_instructions = runner.invoke(
        app, ["dedup", str(source), "--out", str(tmp_path / "d2"), "--fields", "instruction"]
    )
    assert only_instructions.exit_code == 0
    assert len(json.loads((tmp_path / "d2" / "data.json").read_text())) == 3


def test_dedup_refuses_unknown_fields_and_thresholds(tmp_path):
    source = tmp_path / "pairs.jsonl"
    source.write_text(json.dumps({"instruction": "a", "input": "", "output": "b"}) + "\n")
    result = runner.invoke(app, ["dedup", str(source), "--fields", "instruction,title"])
    assert result.exit_code == 2 and "Cannot dedup on title" in result.output
    result = runner.invoke(app, ["dedup", str(source), "--threshold", "1.5"])
    assert result.exit_code == 2 and "threshold must be in (0, 1]" in result.output


def test_dedup_writes_any_registered_format(tmp_path):
    from typer.testing import CliRunner

    from backtranslate.cli import app

    source = tmp_path / "pairs.jsonl"
    rows = [{"instruction": f"Say {w}.", "output": f"{w}!"} for w in ("hi", "hi", "bye")]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "d"
    result = CliRunner().invoke(app, ["dedup", str(source), "--out", str(out), "--format", "sharegpt,messages"])
    assert result.exit_code == 0, result.output
    conversations = json.loads((out / "sharegpt.json").read_text())
    assert [c["conversations"][0]["value"] for c in conversations] == ["Say hi.", "Say bye."]
    assert len((out / "messages.jsonl").read_text().splitlines()) == 2
    bad = CliRunner().invoke(app, ["dedup", str(source), "--format", "chatml"])
    assert bad.exit_code == 2 and "unknown format(s) chatml" in bad.output

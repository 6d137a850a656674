import json

from typer.testing import CliRunner

from backtranslate.cli import app
from tests.test_finetune import GENERATED, _dataset, _seed_file

runner = CliRunner()


def _mismatched():
    """Four real pairs and four with another pair's instruction: eight candidates."""
    shifted = GENERATED[1:] + GENERATED[:1]
    from backtranslate.records import Record

    return GENERATED + [Record(instruction=o.instruction, output=r.output) for r, o in zip(GENERATED, shifted)]


def test_iterate_runs_humpbacks_loop_and_records_each_round(tiny_model_dir, tmp_path, bt_home):
    candidates, seed, out = (
        _dataset(tmp_path / "ds", _mismatched()),
        _seed_file(tmp_path / "seed.jsonl"),
        tmp_path / "it",
    )
    command = [
        "iterate",
        str(candidates),
        "--model",
        str(tiny_model_dir),
        "--seed",
        str(seed),
        "--output-dir",
        str(out),
        "--rounds",
        "1",
        "--top-fraction",
        "0.5",
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "256",
        "--precision",
        "fp32",
        "--val-fraction",
        "0",
    ]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "iterate summary" in result.output and "round 1: curate 8 candidates" in result.output

    zero = json.loads((out / "round-0" / "round.json").read_text())
    assert zero["counts"]["train_pairs"] == {"seed": 6, "generated": 0} and zero["scoring_model"] is None
    one = json.loads((out / "round-1" / "round.json").read_text())
    assert one["scoring_model"] == str(out / "round-0" / "forward")
    assert one["counts"]["candidates"] == 8 and one["counts"]["kept"] == 4 and one["counts"]["rejected"] == 4
    assert one["counts"]["train_pairs"] == {"seed": 6, "generated": 4}
    assert one["inputs"]["candidates"]["pairs"] == 8 and one["inputs"]["seed"]["pairs"] == 6
    assert one["inputs"]["top_fraction"] == 0.5 and one["training"]["steps"] == 1
    assert set(one["seconds"]) == {"curate", "finetune"}
    # M1 was trained on seed + the kept half, from the base model
    manifest = json.loads((out / "round-1" / "forward" / "backtranslate.json").read_text())
    assert manifest["base_model"] == str(tiny_model_dir)
    assert manifest["dataset"]["size"] == 4 and manifest["seed"]["size"] == 6
    kept = [json.loads(line) for line in (out / "round-1" / "curated" / "data.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in kept) == one["kept_ids"] and all("likelihood" in r["meta"]["scores"] for r in kept)
    summary = json.loads((out / "iterate.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    assert summary["final"]["model"] == str(out / "round-1" / "forward") and summary["final"]["kept"] == 4
    assert len(json.loads((out / "final" / "data.json").read_text())) == 4

    # The same command again carries on from the finished steps: nothing is redone.
    stamp = (out / "round-1" / "round.json").stat().st_mtime_ns
    again = runner.invoke(app, command)
    assert again.exit_code == 0 and "round 1: curate" not in again.output
    assert (out / "round-1" / "round.json").stat().st_mtime_ns == stamp
    other = runner.invoke(app, command[:-2] + ["--val-fraction", "0", "--top-fraction", "0.25"])
    assert other.exit_code == 2 and "other settings" in other.output


def test_iterate_checks_its_settings_before_any_work(tmp_path):
    result = runner.invoke(app, ["iterate", str(tmp_path), "--top-fraction", "0", "--dry-run"])
    assert result.exit_code == 2 and "top_fraction must be in (0, 1]" in result.output
    result = runner.invoke(app, ["iterate", str(tmp_path), "--seed", "none", "--scorer", "vibes", "--dry-run"])
    assert (
        result.exit_code == 2
        and "scorer must be likelihood or rubric" in result.output
        and "name a seed" in result.output
    )
    result = runner.invoke(app, ["iterate", "--dry-run"])
    assert result.exit_code == 2 and "backtranslate iterate CANDIDATES" in result.output

import json
import re

import yaml
from typer.testing import CliRunner

from backtranslate.cli import app

runner = CliRunner()


def test_dry_run_prints_the_resolved_config_and_trains_nothing(tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            "configs/cpu-demo.yaml",
            "--lora-r",
            "4",
            "--no-group-by-length",
            "--output-dir",
            str(tmp_path / "o"),
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output)["train"]
    assert cfg["lora_r"] == 4 and cfg["group_by_length"] is False and cfg["epochs"] == 1
    assert not (tmp_path / "o").exists()


def test_train_end_to_end(tiny_model_dir, tmp_path, bt_home):
    out = tmp_path / "adapter"
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--max-length",
            "320",
            "--precision",
            "fp32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "train summary" in result.output and "validation loss" in result.output
    manifest = json.loads((out / "backtranslate.json").read_text())
    assert manifest["config"]["max_steps"] == 2


def test_user_errors_are_one_sentence_and_exit_2(tmp_path, bt_home):
    result = runner.invoke(app, ["train", "--model", "./nowhere", "--output-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Error: Model './nowhere' not found" in result.output and "Traceback" not in result.output

    bad_seed = tmp_path / "bad.jsonl"
    bad_seed.write_text('{"title": "x"}\n')
    result = runner.invoke(app, ["train", "--seed", str(bad_seed), "--dry-run"])
    assert result.exit_code == 0  # dry-run only resolves the config; the seed is read by training
    result = runner.invoke(app, ["train", "--seed", str(bad_seed), "--model", "./nowhere"])
    assert result.exit_code == 2 and "Error:" in result.output


def test_bad_option_values_exit_2(tmp_path):
    result = runner.invoke(app, ["train", "--val-fraction", "2", "--dry-run"])
    assert result.exit_code == 2 and "val_fraction must be in [0, 1)" in result.output


def test_generate_logs_plain_progress_with_a_file_total_when_not_on_a_terminal(tiny_model_dir, tmp_path, bt_home):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Passages of at least 20 words: shorter ones are dropped before the model (passage_length).
    hours = "The harbour office opens at eight and closes at noon on Saturdays during the winter, and ferries leave"
    for i in range(3):
        (corpus / f"note-{i}.txt").write_text(f"Note {i}. {hours} every {i + 2} hours from the north pier.\n")
    (corpus / "sub").mkdir()
    # A Markdown section of 40 words or more: a shorter one is a stub (standalone).
    late = f"{hours} at six in the evening, except on holidays, when the last boat leaves the pier at four."
    (corpus / "sub" / "late.md").write_text(f"# Late ferries\n\n{late} Tickets are sold on board by the crew.\n")
    result = runner.invoke(
        app,
        [
            "generate",
            "--corpus",
            str(corpus),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "out"),
            "--greedy",
            "--max-new-tokens",
            "4",
            "--min-tokens",
            "4",
            "--no-filter",
            "--no-relevance",
            "--precision",
            "fp32",
        ],
    )
    assert result.exit_code == 0, result.output
    # one unwrapped line (tqdm's model-loading bar may share the captured output's line before it)
    line = re.search(r"generate: files .*", result.output).group(0)
    assert line.startswith("generate: files 4/4, passages 4,") and line.endswith("ETA 0:00:00"), line
    assert "\x1b[" not in result.output  # no ANSI codes in a log


def test_plain_progress_estimates_the_rest_from_the_share_of_files_read():
    from backtranslate.cli import PlainProgress

    line = PlainProgress(10).line({"files": 4, "passages": 40, "candidates": 40, "kept": 30}, elapsed=120.0)
    assert line == (
        "generate: files 4/10, passages 40, candidates 40, kept 30, 0.33 passages/s, elapsed 0:02:00, ETA 0:03:00"
    )
    assert "ETA" not in PlainProgress(None).line({"files": 4, "passages": 4, "candidates": 4, "kept": 4}, 1.0)

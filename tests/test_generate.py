import json

import pytest
from quick_configs import CORPORA, quick_generate
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.config import GenerateConfig, resolve
from backtranslate.errors import UserError
from backtranslate.generate import generate

runner = CliRunner()


def _cfg(model, tmp_path, **kw):
    # One record per message, as these tests were written for (threads: test_threads.py).
    out = kw.pop("out", tmp_path / "ds")
    return quick_generate(model, out, **{"batch_size": 8, "email_mode": "message", **kw})


def test_generate_end_to_end_writes_a_self_describing_dataset(tiny_adapter, tiny_model_dir, tmp_path):
    result = generate(_cfg(tiny_adapter, tmp_path, filter=False))
    out = tmp_path / "ds"
    data = json.loads((out / "data.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    candidates = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    # --no-filter keeps every candidate, one per passage with greedy decoding
    assert len(data) == len(candidates) == stats["passages"]["kept"] == stats["pairs"]["kept"] > 15
    assert all(set(r) == {"instruction", "input", "output"} and r["input"] == "" for r in data)
    assert stats["model"]["template"] == "reverse" and stats["model"]["base"] == str(tiny_model_dir)
    # provenance: the passage is the exact slice of its source document
    first = rows[0]["meta"]
    assert first["source"].endswith((".eml", ".mbox")) and first["end"] > first["start"]
    assert result.stats["settings"]["corpus"] == str(CORPORA / "emails")
    assert (out / "README.md").read_text().startswith("---\n")
    assert "pairs kept" in (out / "README.md").read_text()


def test_filters_reject_with_reasons_and_counts_add_up(tiny_adapter, tmp_path):
    generate(_cfg(tiny_adapter, tmp_path))
    out = tmp_path / "ds"
    stats = json.loads((out / "stats.json").read_text())
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    pair_rejects = [r for r in rejected if r["stage"] == "pair"]
    assert stats["pairs"]["kept"] + len(pair_rejects) == stats["pairs"]["candidates"]
    assert sum(stats["pairs"]["dropped"].values()) == len(pair_rejects)
    assert all(r["reason"].split(":")[0] in stats["pairs"]["dropped"] for r in pair_rejects)


def test_rerun_resumes_other_settings_are_refused_and_overwrite_replaces(tiny_adapter, tmp_path):
    cfg = _cfg(tiny_adapter, tmp_path, max_passages=2)
    first = generate(cfg)
    again = generate(cfg)  # the same command on a finished run: nothing to redo
    assert again.stats == first.stats
    with pytest.raises(UserError, match="other settings \\(changed: max_passages\\)"):
        generate(_cfg(tiny_adapter, tmp_path, max_passages=3))
    assert generate(_cfg(tiny_adapter, tmp_path, max_passages=3, overwrite=True)).stats["passages"]["kept"] == 3
    with pytest.raises(UserError, match="no run to resume"):
        generate(_cfg(tiny_adapter, tmp_path / "new", resume=True))


def test_parquet_and_hf_formats(tiny_adapter, tmp_path):
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    generate(_cfg(tiny_adapter, tmp_path, max_passages=3, filter=False, format="alpaca,parquet,hf"))
    out = tmp_path / "ds"
    assert pq.read_table(out / "data.parquet").num_rows == 3
    assert load_from_disk(str(out / "hf")).column_names == ["instruction", "input", "output"]


def test_alpaca_output_loads_with_datasets_and_trains_one_sft_step(tiny_adapter, tiny_model_dir, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from backtranslate.records import Record
    from backtranslate.templates import get_template

    generate(_cfg(tiny_adapter, tmp_path, max_passages=4, filter=False))
    ds = load_dataset("json", data_files=str(tmp_path / "ds" / "data.json"), split="train")
    assert ds.num_rows == 4
    alpaca = get_template("alpaca")
    ds = ds.map(
        lambda r: {"prompt": alpaca.prompt(Record(**r)), "completion": r["output"]}, remove_columns=ds.column_names
    )
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        processing_class=tok,
        train_dataset=ds,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=1, report_to="none", use_cpu=True, max_length=256),
    )
    assert trainer.train().global_step == 1


def test_generate_cli_prints_summary_examples_and_path(tiny_adapter, tmp_path):
    result = runner.invoke(
        app,
        [
            "generate",
            "--corpus",
            str(CORPORA / "docs"),
            "--model",
            str(tiny_adapter),
            "--out",
            str(tmp_path / "cli"),
            "--greedy",
            "--max-new-tokens",
            "8",
            "--max-passages",
            "3",
            "--no-filter",
            "--precision",
            "fp32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "generate summary" in result.output and "Example 1" in result.output
    assert f"Dataset written to {tmp_path / 'cli'}" in result.output.replace("\n", "")


def test_generate_cli_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["generate", "--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Error:" in result.output and "Traceback" not in result.output


def test_zero_shot_with_a_base_model(tiny_model_dir, tmp_path):
    result = generate(_cfg(tiny_model_dir, tmp_path, max_passages=2, filter=False))
    assert result.stats["model"]["template"] == "reverse" and result.stats["pairs"]["candidates"] == 2


def test_sampling_with_a_seed_is_reproducible(tiny_adapter, tmp_path):
    a = generate(_cfg(tiny_adapter, tmp_path / "a", greedy=False, num_candidates=2, max_passages=3, filter=False))
    b = generate(_cfg(tiny_adapter, tmp_path / "b", greedy=False, num_candidates=2, max_passages=3, filter=False))

    def read(r):
        return (r.out / "candidates.jsonl").read_text()

    assert read(a) == read(b) and a.stats["pairs"]["candidates"] == 6


def test_gpu_generation_in_bf16(tiny_adapter, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    result = generate(_cfg(tiny_adapter, tmp_path, precision="auto", max_passages=4, filter=False))
    assert result.stats["model"]["precision"] == "bf16" and result.stats["pairs"]["candidates"] == 4


def test_a_bad_model_leaves_an_earlier_dataset_and_folder_untouched(tiny_adapter, tmp_path):
    cfg = _cfg(tiny_adapter, tmp_path, max_passages=2)
    generate(cfg)
    before = sorted(p.name for p in (tmp_path / "ds").iterdir())
    with pytest.raises(UserError, match="not found"):
        generate(_cfg("./nowhere", tmp_path, max_passages=2, overwrite=True))
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == before
    with pytest.raises(UserError, match="not found"):
        generate(_cfg("./nowhere", tmp_path / "fresh"))
    assert not (tmp_path / "fresh").exists()


def test_retry_gives_the_dropped_passages_sampled_candidates(lively_adapter, tmp_path):
    """The lively model ends its generations at different lengths, so some greedy instructions
    fail the pair filters (cut at the token limit, too long) and some sampled ones pass."""

    def rows(out, name):
        return [json.loads(line) for line in (out / name).read_text().splitlines()]

    plain, retried, N = tmp_path / "plain", tmp_path / "retried", 16
    settings = dict(max_passages=N, max_new_tokens=24, relevance=False)
    generate(_cfg(lively_adapter, tmp_path, out=str(plain), **settings))
    generate(_cfg(lively_adapter, tmp_path, out=str(retried), retry=3, **settings))
    before, after = rows(plain, "data.jsonl"), rows(retried, "data.jsonl")
    stats = json.loads((retried / "stats.json").read_text())["pairs"]
    greedy_kept = {r["meta"]["passage_id"] for r in before}
    # the greedy instruction stays first choice: retried passages are exactly those without one
    assert stats["retried"]["passages"] == N - len(greedy_kept) > 0
    assert {r["meta"]["passage_id"] for r in after if r["meta"]["candidate"] == 0} <= greedy_kept
    on_retry = [r for r in after if r["meta"]["candidate"] > 0]
    assert len(on_retry) == stats["retried"]["kept"] > 0
    assert all(r["meta"]["passage_id"] not in greedy_kept for r in on_retry)
    assert len({r["meta"]["passage_id"] for r in after}) == len(after)  # one pair per passage
    candidates = rows(retried, "candidates.jsonl")
    assert len(candidates) == N + 3 * stats["retried"]["passages"]
    assert len({r["id"] for r in candidates}) == len(candidates)
    assert "kept on retry" in (retried / "README.md").read_text()


def test_retry_needs_one_greedy_candidate(tmp_path):
    with pytest.raises(UserError, match="--retry follows up one greedy candidate"):
        resolve(GenerateConfig, None, {"corpus": "x", "out": str(tmp_path), "num_candidates": 4, "retry": 2})

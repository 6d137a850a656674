"""Kill a real generate process with SIGKILL, resume it, and compare with an uninterrupted run;
shard a run over two real processes (torchrun) and merge it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.config import GenerateConfig
from backtranslate.errors import UserError
from backtranslate.generate import generate
from backtranslate.merge import merge

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
FILES = ("data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl")


def _args(adapter, out, *extra):
    return [
        "generate",
        "--corpus",
        str(CORPORA),
        "--model",
        str(adapter),
        "--out",
        str(out),
        "--max-new-tokens",
        "16",
        "--batch-size",
        "2",
        "--precision",
        "fp32",
        *extra,
    ]


def _in_process(*args):
    """A run in this process (the uninterrupted reference, the resume of a killed run): a process
    start (torch, transformers, peft imports) costs more than the run itself, and the run is the
    same code either way. Only the run that is killed needs a process of its own."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def _cli(*args, env=None):
    return [sys.executable, "-m", "backtranslate.cli", *args]


def _files(out):
    return {name: (out / name).read_text() for name in FILES}


@pytest.mark.parametrize(
    "decoding",
    [
        ["--greedy"],
        ["--num-candidates", "2"],
        ["--num-candidates", "2", "--balance", "uniform"],
        ["--greedy", "--curate", "likelihood", "--curate-model", "{base}", "--curate-threshold", "0"],
        ["--greedy", "--rewrite", "{base}", "--rewrite-max-new-tokens", "16"],
        ["--greedy", "--retry", "2"],
    ],
    ids=["greedy", "sampling", "balanced", "curated", "rewritten", "retried"],
)
def test_sigkill_then_resume_gives_the_uninterrupted_dataset(tiny_adapter, tiny_model_dir, tmp_path, decoding):
    decoding = [str(tiny_model_dir) if arg == "{base}" else arg for arg in decoding]
    # 40 passages in chunks of 8 (4 batches of 2): a kill after the first chunk lands mid-run.
    decoding += ["--max-passages", "40"]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    _in_process(*_args(tiny_adapter, clean, *decoding))

    proc = subprocess.Popen(
        _cli(*_args(tiny_adapter, killed, *decoding)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    progress = killed / "progress.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.exists() and progress.read_text().count("\n") >= 1:
            break
        time.sleep(0.01)
    time.sleep(0.15)  # land the kill somewhere inside the next chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "data.json").exists()  # no final file was half-written

    _in_process(*_args(tiny_adapter, killed, *decoding))  # the resume: a new run of the same command
    assert _files(killed) == _files(clean)
    rows = [json.loads(line) for line in (killed / "candidates.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows)  # nothing generated twice


def test_final_files_are_replaced_atomically(tiny_adapter, tmp_path):
    out = tmp_path / "ds"
    generate(
        GenerateConfig(
            corpus=str(CORPORA / "emails"),
            out=str(out),
            model=str(tiny_adapter),
            greedy=True,
            max_new_tokens=8,
            precision="fp32",
            max_passages=3,
        )
    )
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_two_process_torchrun_shards_merge_into_the_single_run(tiny_adapter, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    _in_process(*_args(tiny_adapter, single, "--greedy"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "backtranslate.cli",
        *_args(tiny_adapter, sharded, "--greedy"),
    ]
    done = subprocess.run(launch, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    shard_runs = [json.loads((sharded / f"shard-{i}-of-2" / "run.json").read_text()) for i in (0, 1)]
    assert [r["settings"]["shard"] for r in shard_runs] == ["0/2", "1/2"] and all(r["done"] for r in shard_runs)
    ids = [
        {
            json.loads(line)["meta"]["passage_id"]
            for line in (sharded / f"shard-{i}-of-2" / "candidates.jsonl").read_text().splitlines()
        }
        for i in (0, 1)
    ]
    assert ids[0] and ids[1] and not ids[0] & ids[1]  # each passage went to exactly one shard

    stats, _ = merge(sharded)
    merged = json.loads((sharded / "data.json").read_text())
    expected = json.loads((single / "data.json").read_text())
    assert merged == expected
    assert stats["pairs"]["kept"] == len(expected)


def test_merge_refuses_incomplete_runs(tiny_adapter, tmp_path):
    out = tmp_path / "partial"
    generate(
        GenerateConfig(
            corpus=str(CORPORA / "emails"),
            out=str(out),
            model=str(tiny_adapter),
            greedy=True,
            max_new_tokens=8,
            precision="fp32",
            shard="0/2",
        )
    )
    with pytest.raises(UserError, match="do not make a whole run of 2"):
        merge(out)
    with pytest.raises(UserError, match="No shard folders"):
        merge(tmp_path / "nothing")

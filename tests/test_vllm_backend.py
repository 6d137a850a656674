"""The vLLM backend (`--backend vllm`). Runs where vLLM is installed (`make vllm-setup` builds
.venv-vllm, and `make test` runs this file there); elsewhere its tests skip, except the one that
checks the install hint a user without vLLM gets."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backtranslate import templates
from backtranslate.cli import app
from backtranslate.inference import BackwardModel, Decoding
from backtranslate.records import Record

try:
    from vllm import LLM  # noqa: F401

    HAVE_VLLM = True
except (ImportError, OSError):  # OSError: a CUDA-built torchvision beside a CPU torch
    HAVE_VLLM = False

needs_vllm = pytest.mark.skipif(not HAVE_VLLM, reason="vLLM is not installed here (make vllm-setup)")
CORPORA = Path(__file__).resolve().parents[1] / "corpora"
WORDS = "the budget meeting moves to friday please send the report before noon and thanks".split()
KV_CACHE_GB = 0.25  # the tiny model needs little; the default would reserve 2 GiB per engine


def _passages(n):
    import random

    rng = random.Random(0)
    return [
        Record(output=" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 120))), id=f"p{i}") for i in range(n)
    ]


def _rows(candidates):
    return [
        (c.meta["passage_id"], c.meta["candidate"], c.meta["raw"], c.meta["generated_tokens"], c.meta["finish_reason"])
        for c in candidates
    ]


@pytest.fixture(scope="module", params=["merged", "request"])
def backends(request, lively_adapter, tmp_path_factory):
    """Both backends on the lively model with its LoRA adapter (merged into the weights, or a
    LoRA request in vLLM), in fp32, with " t" as the stop string (the lively model writes it
    now and then)."""
    if not HAVE_VLLM:
        pytest.skip("vLLM is not installed here (make vllm-setup)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BACKTRANSLATE_HOME", str(tmp_path_factory.mktemp("bt-home")))  # merged weights go here
        patch.setattr(templates, "REVERSE_STOPS", [" t"])
        ours = BackwardModel(
            str(lively_adapter), precision="fp32", backend="vllm", kv_cache_gb=KV_CACHE_GB, vllm_lora=request.param
        )
        reference = BackwardModel(str(lively_adapter), precision="fp32")
    yield ours, reference
    ours.close()


@needs_vllm
def test_backends_agree_on_greedy_outputs(backends):
    ours, reference = backends
    assert (ours.engine.lora is not None) == (ours.engine.lora_mode == "request")
    # On a CPU the engine runs eagerly: compiling cost 136 s of every start (RESULTS.md).
    assert ours.engine.llm.model_config.enforce_eager is True
    passages = _passages(24)
    decoding = Decoding(greedy=True, max_new_tokens=40)
    got, want = _rows(ours.generate(passages, decoding)), _rows(reference.generate(passages, decoding))
    assert [r[0] for r in got] == [p.id for p in passages]
    assert got == want
    ends = {(r[4], " t" in r[2]) for r in got}
    assert {("stop", True), ("stop", False), ("length", False)} <= ends


@needs_vllm
def test_sampling_is_seeded_per_passage(backends):
    ours, _ = backends
    passages = _passages(5)
    decoding = Decoding(num_candidates=3, max_new_tokens=12, seed=3)
    first = _rows(ours.generate(passages, decoding))
    assert [(r[0], r[1]) for r in first] == [(p.id, c) for p in passages for c in range(3)]
    assert len({r[2] for r in first}) > 5
    # a passage's candidates depend on the seed and the passage, not on its neighbours
    alone = _rows(ours.generate(passages[2:3], decoding))
    assert alone == first[6:9]
    assert _rows(ours.generate(passages, Decoding(num_candidates=3, max_new_tokens=12, seed=4))) != first


@needs_vllm
def test_generate_cli_with_the_vllm_backend(lively_adapter, tmp_path, bt_home):
    out = tmp_path / "ds"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--corpus",
            str(CORPORA / "emails"),
            "--model",
            str(lively_adapter),
            "--out",
            str(out),
            "--backend",
            "vllm",
            "--kv-cache-gb",
            str(KV_CACHE_GB),
            "--precision",
            "fp32",
            "--greedy",
            "--max-new-tokens",
            "8",
            "--max-passages",
            "5",
            "--no-filter",
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["model"]["backend"] == "vllm" and stats["pairs"]["candidates"] == 5


@needs_vllm
def test_eval_runs_on_the_vllm_backend_with_the_same_greedy_instructions(lively_adapter, tmp_path, bt_home):
    from backtranslate.evaluate import evaluate

    heldout = tmp_path / "heldout.jsonl"
    rows = [{"instruction": f"Say {w} twice.", "output": f"{w} {w} and then some more {w}"} for w in WORDS[:4]]
    heldout.write_text("".join(json.dumps(r) + "\n" for r in rows))
    decoding = Decoding(greedy=True, max_new_tokens=12)
    reports = [
        evaluate(str(lively_adapter), str(heldout), baseline=None, decoding=decoding, precision="fp32", **backend)
        for backend in (
            {"backend": "vllm", "backend_options": {"kv_cache_gb": KV_CACHE_GB}},
            {"backend": "transformers"},
        )
    ]
    assert reports[0]["backend"] == "vllm" and reports[1]["backend"] == "transformers"
    assert [e["model"] for e in reports[0]["examples"]] == [e["model"] for e in reports[1]["examples"]]
    assert reports[0]["metrics"] == reports[1]["metrics"]


@needs_vllm
def test_the_rubric_judge_gives_the_same_answers_on_vllm(lively_adapter, bt_home):
    from backtranslate.curate import RubricScorer

    pairs = [
        Record(instruction=f"Say {w}.", output=f"{w} {w} and then {w}", id=f"r{i}") for i, w in enumerate(WORDS[:5])
    ]
    judges = [
        RubricScorer(str(lively_adapter), max_new_tokens=12, precision="fp32", **backend)
        for backend in ({"backend": "vllm", "kv_cache_gb": KV_CACHE_GB}, {"backend": "transformers"})
    ]
    answers = [[s.detail for s in judge.score(pairs)] for judge in judges]
    assert answers[0] == answers[1] and len(answers[0]) == 5
    judges[0].engine.close()


@pytest.mark.skipif(HAVE_VLLM, reason="checks the hint for a machine without vLLM")
def test_backend_vllm_without_vllm_says_how_to_install(tiny_model_dir, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--corpus",
            str(CORPORA / "emails"),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "o"),
            "--backend",
            "vllm",
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "needs vLLM" in result.output and "make vllm-setup" in result.output
    assert not (tmp_path / "o").exists()


@needs_vllm
def test_the_likelihood_scorer_runs_on_vllm(lively_model_dir, bt_home):
    from backtranslate.curate import LikelihoodScorer

    pairs = [
        Record(instruction=f"Repeat {w}.", output=" ".join(WORDS[i : i + 6]), id=f"l{i}")
        for i, w in enumerate(WORDS[:6])
    ]
    scorers = [
        LikelihoodScorer(str(lively_model_dir), **backend)
        for backend in ({"backend": "vllm", "kv_cache_gb": KV_CACHE_GB}, {"backend": "transformers"})
    ]
    got, want = ([s.score for s in scorer.score(pairs)] for scorer in scorers)
    assert len(set(want)) > 1 and got == pytest.approx(want, abs=2e-3)
    scorers[0].engine.close()

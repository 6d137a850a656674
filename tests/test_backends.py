"""The Backend protocol and registry: every backend behind one interface, its own settings
checked in one place, and the model-free `fake` backend driving generate, resume and merge."""

import json
from pathlib import Path

import pytest

from backtranslate.config import EvalConfig, GenerateConfig, resolve
from backtranslate.errors import UserError
from backtranslate.generate import generate
from backtranslate.inference import BACKENDS, BackwardModel, Decoding, option_names, options_from
from backtranslate.merge import merge
from backtranslate.records import Record

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
FILES = ("data.json", "data.jsonl", "candidates.jsonl", "rejected.jsonl")


def test_every_backend_is_registered_with_its_own_settings():
    assert {"transformers", "vllm", "fake"} <= set(BACKENDS)
    assert option_names() >= {"tensor_parallel_size", "kv_cache_gb", "vllm_lora"}
    # every backend's settings are flags of the commands that run a model
    for cls in (GenerateConfig, EvalConfig):
        assert option_names() <= set(cls.__dataclass_fields__)
    cfg = GenerateConfig(backend="vllm", kv_cache_gb=0.5)
    assert options_from("vllm", cfg) == {
        "tensor_parallel_size": 1,
        "kv_cache_gb": 0.5,
        "vllm_lora": "auto",
        "vllm_eager": None,
    }
    assert options_from("transformers", cfg) == {}


def test_backend_settings_are_checked_against_the_chosen_backend():
    with pytest.raises(UserError) as e:
        resolve(GenerateConfig, None, {"kv_cache_gb": 1.0})
    assert "kv_cache_gb applies to --backend vllm only, not transformers" in str(e.value)
    with pytest.raises(UserError, match="vllm_lora must be auto, merged or request"):
        resolve(GenerateConfig, None, {"backend": "vllm", "vllm_lora": "fused"})
    with pytest.raises(UserError, match="backend must be one of fake, openai, transformers, vllm, got 'onnx'"):
        resolve(EvalConfig, None, {"model": "m", "heldout": "h", "backend": "onnx"})
    with pytest.raises(UserError, match="--backend openai needs --base-url"):
        resolve(GenerateConfig, None, {"backend": "openai"})
    with pytest.raises(UserError, match="base_url must be an http"):
        resolve(GenerateConfig, None, {"backend": "openai", "base_url": "127.0.0.1:8000"})
    with pytest.raises(UserError, match="base_url, concurrency apply to --backend openai only, not vllm"):
        resolve(GenerateConfig, None, {"backend": "vllm", "base_url": "http://h/v1", "concurrency": 2})
    with pytest.raises(UserError, match="--model is required; --heldout is required"):
        resolve(EvalConfig, None, {})


def test_backends_build_the_same_prompts_and_candidates(tiny_model_dir):
    """The transformers backend and the fake one share every step but the model's: the prompts,
    their ids and the candidate records' provenance."""
    passages = [Record(output=f"please send the report before noon {i}", id=f"p{i}") for i in range(3)]
    decoding = Decoding(greedy=True, max_new_tokens=40)
    models = [BackwardModel(str(tiny_model_dir), precision="fp32", backend=b) for b in ("transformers", "fake")]
    assert models[0].prompt_ids(passages) == models[1].prompt_ids(passages)
    rows = [[(c.meta["passage_id"], c.meta["candidate"], c.id) for c in m.generate(passages, decoding)] for m in models]
    assert rows[0] == rows[1] == [(f"p{i}", 0, rows[0][i][2]) for i in range(3)]
    fake = list(models[1].generate(passages, decoding))
    assert fake[2].instruction == "Write a text that begins: please send the report before noon 2"
    cut = list(models[1].generate(passages, Decoding(greedy=True, max_new_tokens=4)))
    assert cut[0].meta["finish_reason"] == "length" and cut[0].meta["generated_tokens"] == 4
    for m in models:
        m.close()


def _cfg(out, **extra):
    return GenerateConfig(
        corpus=str(CORPORA / "emails"),
        out=str(out),
        model=extra.pop("model"),
        backend="fake",
        batch_size=2,
        relevance=False,  # the embedding scorer is a model; this checks the pipeline around them
        **extra,
    )


def _files(out):
    return {name: (out / name).read_text() for name in FILES}


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("sampled", [False, True], ids=["greedy", "sampled"])
def test_fake_backend_run_interrupted_and_resumed_equals_one_run(tiny_model_dir, tmp_path, sampled):
    extra = {"num_candidates": 3} if sampled else {"greedy": True}
    clean = generate(_cfg(tmp_path / "clean", model=str(tiny_model_dir), **extra))
    assert clean.stats["pairs"]["kept"] > 0 and clean.stats["model"]["backend"] == "fake"

    def stop_after_two_chunks(counts):
        if counts["passages"] >= 2 * 2 * 4:  # two chunks of batch_size x 4
            raise Interrupt

    with pytest.raises(Interrupt):
        generate(_cfg(tmp_path / "cut", model=str(tiny_model_dir), **extra), on_progress=stop_after_two_chunks)
    assert not (tmp_path / "cut" / "data.json").exists()
    generate(_cfg(tmp_path / "cut", model=str(tiny_model_dir), **extra))
    assert _files(tmp_path / "cut") == _files(tmp_path / "clean")


def test_fake_backend_shards_merge_into_the_single_run(tiny_model_dir, tmp_path):
    single = generate(_cfg(tmp_path / "one", model=str(tiny_model_dir), num_candidates=2))
    for i in range(3):
        generate(_cfg(tmp_path / "many", model=str(tiny_model_dir), num_candidates=2, shard=f"{i}/3"))
    stats, _ = merge(tmp_path / "many")
    assert stats["pairs"]["kept"] == single.stats["pairs"]["kept"]
    one = [json.loads(x)["id"] for x in (tmp_path / "one" / "data.jsonl").read_text().splitlines()]
    many = [json.loads(x)["id"] for x in (tmp_path / "many" / "data.jsonl").read_text().splitlines()]
    assert one == many


def test_run_stats_round_trip_through_stats_json(tiny_model_dir, tmp_path):
    from backtranslate.runstats import RunStats

    result = generate(_cfg(tmp_path / "run", model=str(tiny_model_dir), greedy=True))
    written = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert written == result.stats
    typed = RunStats.from_dict(written)
    assert typed.to_dict() == written
    assert typed.pairs.rejected == typed.pairs.candidates - typed.pairs.kept == written["pairs"]["rejected"]
    with pytest.raises(TypeError):  # a renamed field fails where the stats are read, not at the end of a run
        RunStats.from_dict({**written, "pairs": {**written["pairs"], "kept_pairs": 1}})


def test_the_api_key_is_masked_in_every_config_dump():
    from backtranslate.config import to_dict

    cfg = resolve(GenerateConfig, None, {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key": "sk-x1"})
    assert to_dict(cfg)["api_key"] == "***" and cfg.api_key == "sk-x1"
    assert to_dict(GenerateConfig())["api_key"] is None


def test_a_server_backend_says_what_is_wrong_before_any_work(tiny_model_dir, tmp_path):
    """No server needed for these: a closed port on 127.0.0.1, and a web server that is not an
    OpenAI-compatible API (Python's own, serving a folder). The vLLM suite runs a real one."""
    import functools
    import http.server
    import socket
    import threading

    from backtranslate.inference.openai_backend import public

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(UserError, match=r"Cannot reach a server at http://127.0.0.1:\d+/v1 \(ConnectError"):
        BackwardModel(str(tiny_model_dir), backend="openai", base_url=f"http://127.0.0.1:{closed}/v1", max_retries=0)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{web.server_address[1]}/v1"
        with pytest.raises(UserError, match="does not answer as an OpenAI-compatible API .*: 404"):
            BackwardModel(str(tiny_model_dir), backend="openai", base_url=url, max_retries=0)
    finally:
        web.shutdown()
    assert public("https://user:pw@host:8000/v1?x=1") == "https://host:8000/v1"


def test_scoring_needs_a_backend_that_reads_log_probabilities(tiny_model_dir):
    from backtranslate.curate import LikelihoodScorer

    with pytest.raises(UserError, match="--backend fake does not give log-probabilities"):
        LikelihoodScorer(str(tiny_model_dir), backend="fake")
    scorer = LikelihoodScorer(str(tiny_model_dir))
    (scored,) = scorer.score([Record(instruction="Say hi.", output="hi there friend", id="x")])
    assert scored.score is not None and "log p(out|instr)" in scored.detail

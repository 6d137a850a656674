"""Session fixtures: the tiny real model of backtranslate.testing, an adapter trained on it, and
a private BACKTRANSLATE_HOME."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backtranslate.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A backward-model adapter folder written by `train` (2 steps on the shipped seed)."""
    from backtranslate.config import TrainConfig
    from backtranslate.readers.seed import load_seed
    from backtranslate.train import train

    out = tmp_path_factory.mktemp("adapter")
    train(
        TrainConfig(
            model=str(tiny_model_dir), output_dir=str(out), max_steps=2, batch_size=4, max_length=320, precision="fp32"
        ),
        seed=load_seed("default"),
    )
    return out


@pytest.fixture(scope="session")
def lively_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A tiny Llama for comparing decoding loops and backends token by token. Its weights are
    drawn wide (std 0.5), so its greedy text varies with the prompt and no two candidates tie;
    ' about' and 'um' are extra EOS tokens, so greedy runs end at different lengths; its head
    size is 64, which vLLM's CPU attention needs."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("lively-llama")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.save_pretrained(folder)
    stops = [tokenizer.convert_tokens_to_ids(t) for t in ("Ġabout", "um")]
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.5,
        eos_token_id=[tokenizer.eos_token_id, *stops],
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def lively_adapter(lively_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter folder for the lively model with random (not zero) B matrices, so it
    changes what the model writes; laid out as `train` writes one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("lively-adapter")
    torch.manual_seed(1)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(lively_model_dir),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False),
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(lively_model_dir).save_pretrained(out)
    manifest = {"kind": "backward-lora", "base_model": str(lively_model_dir), "template": "reverse"}
    (out / "backtranslate.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(autouse=True)
def bt_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """A private BACKTRANSLATE_HOME for every test, so no test reads or fills the user's cache.

    Tests marked ``embedded`` keep the user's cache on purpose, unless they ask for ``bt_home`` by
    name: they load the real embedded model, whose dequantized copy is cached there once instead
    of rebuilt for every test.
    """
    asked = "bt_home" in inspect.signature(request.function).parameters
    if request.node.get_closest_marker("embedded") and not asked:
        return None
    home = tmp_path / "bt-home"
    monkeypatch.setenv("BACKTRANSLATE_HOME", str(home))
    return home

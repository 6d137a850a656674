"""The real embedded model: GGUF -> cached safetensors -> a few LoRA steps."""

import json
import time

import pytest

from backtranslate import models
from backtranslate.config import TrainConfig
from backtranslate.readers.seed import load_seed
from backtranslate.train import train

pytestmark = pytest.mark.embedded


def test_default_model_converts_once_then_loads_fast_and_trains(bt_home, tmp_path):
    location = models.resolve("default")  # converts the GGUF into bt_home
    assert (bt_home / "models" / models.EMBEDDED_NAME / "model.safetensors").exists()
    started = time.perf_counter()
    assert models.resolve("default") == location  # cached: no second conversion
    model, tokenizer = models.load("default")
    assert time.perf_counter() - started < 10  # seconds, not the ~17 s of GGUF dequantization
    assert model.config.model_type == "llama" and tokenizer.eos_token == "<|im_end|>"

    seed = load_seed("default")
    seed.records = seed.records[:16]
    result = train(
        TrainConfig(output_dir=str(tmp_path / "out"), max_steps=2, batch_size=4, max_length=256, val_fraction=0.25),
        seed=seed,
    )
    assert result.train_loss > 0 and result.val_loss is not None
    manifest = json.loads((tmp_path / "out" / "backtranslate.json").read_text())
    assert manifest["base_model"] == "default"

"""--precision int8 (transformers backend on CPUs): linear layers as int8, the output head in fp32,
and `auto` choosing it only on CPUs without bf16 where it measures faster."""

import pytest
import torch

from backtranslate import hardware
from backtranslate.config import GenerateConfig, resolve
from backtranslate.errors import UserError
from backtranslate.inference import BackwardModel, Decoding
from backtranslate.inference.transformers_backend import faster_cpu_precision
from backtranslate.records import Record


def _passages(n):
    return [
        Record(output=f"please send the budget report before noon, item {i} of the list", id=f"p{i}") for i in range(n)
    ]


def test_int8_quantizes_every_linear_layer_but_the_head(lively_adapter):
    model = BackwardModel(str(lively_adapter), precision="int8")
    assert model.precision == "int8"
    net = model.engine.model
    quantized = [n for n, m in net.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    plain = [n for n, m in net.named_modules() if type(m) is torch.nn.Linear]
    assert len(quantized) == 2 * 7 and plain == ["lm_head"]  # 2 layers x (q, k, v, o, gate, up, down)
    candidates = list(model.generate(_passages(4), Decoding(greedy=True, max_new_tokens=12)))
    assert [c.meta["passage_id"] for c in candidates] == ["p0", "p1", "p2", "p3"]
    assert all(c.meta["generated_tokens"] > 0 for c in candidates)


def test_auto_measures_int8_against_fp32_only_on_cpus_without_bf16(lively_adapter, monkeypatch):
    from backtranslate import models

    net, _ = models.load(str(lively_model_dir_of(lively_adapter)), dtype=torch.float32)
    choice = faster_cpu_precision(net)
    assert choice in ("int8", "fp32")
    assert faster_cpu_precision(net, margin=1e9) == "fp32"  # never int8 unless it is faster
    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: False)
    model = BackwardModel(str(lively_adapter), precision="auto")
    assert model.precision in ("int8", "fp32")
    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: True)
    assert BackwardModel(str(lively_adapter), precision="auto").precision == "bf16"


def lively_model_dir_of(adapter):
    import json

    return json.loads((adapter / "backtranslate.json").read_text())["base_model"]


def test_int8_is_a_generation_precision_only():
    with pytest.raises(UserError, match="precision int8 runs on the transformers backend only"):
        resolve(GenerateConfig, None, {"precision": "int8", "backend": "fake"})
    from backtranslate.config import TrainConfig

    with pytest.raises(UserError, match="precision must be one of auto, bf16, fp16, fp32"):
        resolve(TrainConfig, None, {"precision": "int8"})

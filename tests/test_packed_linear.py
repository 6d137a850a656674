"""Packed bf16 linear layers: the speed-up must not change a single logit or token."""

import pytest
import torch

from backtranslate.inference import BackwardModel, Decoding, packed_linear
from backtranslate.inference.packed_linear import PackedLinear, pack_linears
from backtranslate.records import Record

pytestmark = pytest.mark.skipif(
    not packed_linear.available(torch.bfloat16, "cpu"), reason="this torch build or CPU has no oneDNN bf16 linear"
)


def test_packed_layers_give_the_same_logits_bit_for_bit(lively_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(lively_model_dir, dtype=torch.bfloat16).eval()
    ids = torch.randint(0, model.config.vocab_size, (3, 37))
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        swapped = pack_linears(model)
        after = model(input_ids=ids).logits
    # q, k, v, o and three MLP projections per layer, plus the LM head
    assert swapped == 7 * model.config.num_hidden_layers + 1
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert torch.equal(before, after)


def test_the_bf16_backend_packs_its_layers_and_writes_the_same_instructions(lively_adapter, monkeypatch):
    passages = [Record(output=f"please send the report before noon {i} " * (1 + i % 5), id=f"p{i}") for i in range(9)]
    decoding = Decoding(greedy=True, max_new_tokens=24)
    packed = BackwardModel(str(lively_adapter), precision="bf16")
    assert any(isinstance(m, PackedLinear) for m in packed.engine.model.modules())
    monkeypatch.setattr(packed_linear, "available", lambda *args: False)
    plain = BackwardModel(str(lively_adapter), precision="bf16")
    assert not any(isinstance(m, PackedLinear) for m in plain.engine.model.modules())
    rows = [
        [(c.meta["raw"], c.meta["generated_tokens"]) for c in m.generate(passages, decoding)] for m in (packed, plain)
    ]
    assert rows[0] == rows[1]
    assert len({text for text, _ in rows[0]}) > 1  # different passages, different instructions


def test_fp32_and_other_devices_are_left_alone():
    assert not packed_linear.available(torch.float32, "cpu")
    assert not packed_linear.available(torch.bfloat16, "meta")

import pytest
import torch

from backtranslate.fused_lora import fused_lora


def _lora_model(tiny_model_dir, dropout=0.0, layers=None):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=dropout,
        # peft takes layers_to_transform only with named modules, as train() names them
        target_modules="all-linear" if layers is None else ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"],
        task_type="CAUSAL_LM",
        **({"layers_to_transform": layers} if layers is not None else {}),
    )
    model = get_peft_model(model, config)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would hide a wrong A or B gradient
            torch.nn.init.normal_(param, std=0.02)
    return model


def _loss_and_grads(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.logits.detach(), out.loss.item(), grads


@pytest.mark.parametrize("layers", [None, [1]])  # every layer; the top one only (--lora-layers 1)
def test_fused_lora_gives_peft_outputs_and_gradients(tiny_model_dir, layers):
    model = _lora_model(tiny_model_dir, layers=layers)
    model.train()
    ids = torch.randint(5, 200, (3, 17))
    logits, loss, grads = _loss_and_grads(model, ids)
    with fused_lora(model) as patched:
        assert patched == sum(1 for m in model.modules() if type(m).__name__ == "Linear" and hasattr(m, "lora_A"))
        fused_logits, fused_loss, fused_grads = _loss_and_grads(model, ids)
    assert patched > 0
    torch.testing.assert_close(fused_logits, logits, rtol=1e-4, atol=1e-5)
    assert fused_loss == pytest.approx(loss, rel=1e-6)
    assert fused_grads.keys() == grads.keys()
    for name in grads:
        torch.testing.assert_close(fused_grads[name], grads[name], rtol=1e-3, atol=1e-6, msg=name)
    # Out of the block every layer runs peft's own forward again.
    assert not any("forward" in vars(m) for m in model.modules())


def test_layers_with_dropout_keep_peft_path(tiny_model_dir):
    model = _lora_model(tiny_model_dir, dropout=0.1)
    with fused_lora(model) as patched:
        assert patched == 0
    with fused_lora(_lora_model(tiny_model_dir), enabled=False) as patched:
        assert patched == 0


def test_a_trained_base_weight_keeps_peft_path(tiny_model_dir):
    # Fused backward gives the base weight no gradient, so a layer whose base is trained stays peft's.
    model = _lora_model(tiny_model_dir)
    with fused_lora(model) as all_layers:
        pass
    model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.requires_grad_(True)
    with fused_lora(model) as patched:
        assert patched == all_layers - 1

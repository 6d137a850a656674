"""LoRA layers as one matmul each way while training on a CPU: ``W + s * B @ A`` formed per call.

peft computes a LoRA linear layer as ``base(x) + B(A(x)) * s``: on top of the base matmul, two
thin matmuls, a scaling pass and an addition over the whole output forward, and as many again
backward, each a pass over memory that a CPU (unlike a GPU) pays for in full. Forming the
adapted weight ``W + s * B @ A`` (out x in x r multiply-adds, small beside a batch's matmul) and
multiplying once gives the same output; backward needs one matmul for the input's gradient and
two thin ones for A's and B's. The frozen base weight is never copied for long: the adapted one is
rebuilt in backward instead of being kept.

On the embedded 135M model (LoRA on every linear layer, fp32, 2 cores of an AVX2 EPYC) training
ran 1.06-1.11x faster, interleaved with peft's path, the losses equal to the last digit
(benchmarks/train_throughput.py; tests/test_fused_lora.py checks outputs and gradients against
peft's). Only plain LoRA layers over a frozen base take it: one active adapter, no dropout, no DoRA
or other variant, not merged; anything else keeps peft's forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

import torch
import torch.nn.functional as F


class _AdaptedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling):
        adapted = torch.addmm(weight, lora_b, lora_a, alpha=scaling)
        hidden = x @ lora_a.t()
        ctx.save_for_backward(x, hidden, weight, lora_a, lora_b)
        ctx.scaling = scaling
        return F.linear(x, adapted, bias)

    @staticmethod
    def backward(ctx, grad):
        x, hidden, weight, lora_a, lora_b = ctx.saved_tensors
        scaling = ctx.scaling
        # The lowest adapted layer's input comes from frozen layers: it needs no gradient.
        grad_x = grad @ torch.addmm(weight, lora_b, lora_a, alpha=scaling) if ctx.needs_input_grad[0] else None
        flat_grad = grad.reshape(-1, grad.shape[-1])
        grad_b = (flat_grad.t() @ hidden.reshape(-1, hidden.shape[-1])) * scaling
        grad_a = ((flat_grad @ lora_b).t() @ x.reshape(-1, x.shape[-1])) * scaling
        return grad_x, None, None, grad_a, grad_b, None


def _adapter(module: Any) -> str | None:
    """The one plain LoRA adapter this layer runs, or None when it is anything else."""
    from peft.tuners.lora import Linear as LoraLinear

    if type(module) is not LoraLinear or module.merged or module.disable_adapters:
        return None
    base = module.base_layer
    if type(base) is not torch.nn.Linear or len(module.active_adapters) != 1:
        return None
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        return None  # backward here gives the frozen base no gradient
    name = module.active_adapters[0]
    plain = (
        name in module.lora_A
        and name not in getattr(module, "lora_variant", {})
        and not module.use_dora.get(name, False)
        and isinstance(module.lora_dropout[name], torch.nn.Identity)
    )
    return name if plain else None


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    name = _adapter(self)
    if name is None or args or kwargs or x.dtype != self.lora_A[name].weight.dtype:
        return type(self).forward(self, x, *args, **kwargs)  # peft's own path
    base = self.base_layer
    return _AdaptedLinear.apply(
        x, base.weight, base.bias, self.lora_A[name].weight, self.lora_B[name].weight, self.scaling[name]
    )


@contextmanager
def fused_lora(model: Any, enabled: bool = True) -> Iterator[int]:
    """Within the block, the model's plain LoRA layers run fused; yields how many do."""
    patched = [m for m in model.modules() if enabled and _adapter(m) is not None]
    for module in patched:
        module.forward = MethodType(_forward, module)
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward

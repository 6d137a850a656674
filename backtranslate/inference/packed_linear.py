"""bf16 linear layers with their weights laid out once for oneDNN, for inference on CPU.

`F.linear` in bf16 on CPU goes to oneDNN, which reorders the weight into its blocked layout on
every call. At inference the weights never change, so each layer's weight is reordered once, up
front, as PyTorch's own inductor does when it freezes a model (`mkldnn._reorder_linear_weight`
then `mkldnn._linear_pointwise`). The results are bit-identical to `F.linear`; a decoding step
runs its matmuls 1.2-1.8x faster (the LM head's most: 8.1 -> 4.4 ms for 24 rows of SmolLM2) and a
prefill's 1.1-1.2x (benchmarks/RESULTS.md). Only bf16 on CPU: in fp32 the packed path is no
faster and rounds differently.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


class PackedLinear(nn.Module):
    """An `nn.Linear` for inference whose weight is held in oneDNN's layout."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # The layout is chosen for a batch-size hint; 1 measured as fast as the real sizes.
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), 1)
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return out.view(*x.shape[:-1], self.out_features)


@cache
def available(dtype: torch.dtype, device: Any) -> bool:
    """Whether packing applies here and gives exactly what `F.linear` gives (checked once on a
    small layer, so a torch build whose ops differ falls back instead of decoding differently)."""
    if dtype != torch.bfloat16 or torch.device(device).type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        layer = nn.Linear(64, 48).to(dtype)
        x = torch.randn(5, 3, 64, dtype=dtype)
        with torch.inference_mode():
            return torch.equal(PackedLinear(layer)(x), layer(x))
    except (RuntimeError, AttributeError) as error:  # an op missing from this build
        log.debug("packed linear layers unavailable: %s", error)
        return False


def pack_linears(model: nn.Module) -> int:
    """Swap every `nn.Linear` of an inference-only model for a `PackedLinear`; returns how many.
    The model can no longer be trained or saved afterwards."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear
    ]
    for parent, name, child in swaps:
        setattr(parent, name, PackedLinear(child))
    return len(swaps)


def pack_for_inference(model: nn.Module) -> int:
    """Pack the model's linear layers where that is exact and faster here (bf16 on CPU); returns
    how many were packed, 0 where the model is left as it was."""
    weight = next(model.parameters())
    return pack_linears(model) if available(weight.dtype, weight.device.type) else 0

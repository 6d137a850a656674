"""What the machine can do: which precision to train and generate in."""

from __future__ import annotations

from .errors import UserError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# Generation may also run int8: linear weights quantized per output channel, activations
# quantized on the fly (torch's dynamic quantization), for CPUs without bf16 (transformers backend).
INFERENCE_PRECISIONS = PRECISIONS + ("int8",)


def cpu_supports_bf16() -> bool:
    """AVX-512 BF16 / AMX: oneDNN runs bf16 matmuls natively (about 1.5-2.6x fp32 here)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(preference: str) -> str:
    """'auto' -> bf16 where supported (GPU or CPU), else fp16 on older GPUs, else fp32."""
    import torch

    on_gpu = torch.cuda.is_available()
    if preference == "auto":
        if on_gpu:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_supports_bf16() else "fp32"
    if preference == "fp16" and not on_gpu:
        raise UserError("fp16 training needs a GPU; use --precision bf16 or fp32 on a CPU.")
    if preference == "bf16" and not on_gpu and not cpu_supports_bf16():
        raise UserError("This CPU has no bf16 support; use --precision fp32 (or int8 to generate).")
    if preference == "int8" and on_gpu:
        raise UserError("--precision int8 is for CPUs; use bf16 or fp16 on a GPU.")
    return preference

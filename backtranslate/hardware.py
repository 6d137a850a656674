"""What the machine can do: which precision to train and generate in."""

from __future__ import annotations

import functools

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


# bf16 autocast trains faster than fp32 only where the CPU's bf16 matmuls are: AMX, or AVX-512
# BF16 on some cores. On an Emerald Rapids VM without AMX a matmul of SmolLM2's MLP shape ran at
# 160 GFLOP/s in bf16 and 302 in fp32, and training at 0.69x fp32 (benchmarks/RESULTS.md).
BF16_TRAIN_MARGIN = 1.2


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a training-sized matmul (1024 x 576 by 576 x 1536) on this CPU,
    the best of five each after a warm-up: about 0.1 s, measured once per process."""
    import time

    import torch

    x, w = torch.randn(1024, 576), torch.randn(576, 1536)

    def best(a: torch.Tensor, b: torch.Tensor) -> float:
        a @ b  # warm-up: oneDNN picks and caches its kernel on the first call
        times = []
        for _ in range(5):
            started = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - started)
        return min(times)

    return best(x, w) / best(x.bfloat16(), w.bfloat16())


def train_precision(preference: str) -> str:
    """The training precision: as resolve_precision, except that 'auto' on a CPU takes bf16 only
    where its matmuls measure at least BF16_TRAIN_MARGIN times fp32's speed here."""
    import torch

    precision = resolve_precision(preference)
    if preference == "auto" and precision == "bf16" and not torch.cuda.is_available():
        if cpu_bf16_speedup() < BF16_TRAIN_MARGIN:
            return "fp32"
    return precision


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

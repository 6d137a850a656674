"""The transformers backend (the default): the model in this process, LoRA merged into the base
(one matmul per layer instead of two), in bf16 where the hardware runs it natively (on CPU with
its linear weights packed once for oneDNN, packed_linear.py), decoded by the loop of decoder.py
in token-budget batches, or by transformers' `generate` for models that loop cannot drive.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from .. import models
from ..hardware import resolve_precision
from .base import Completion, Decoding, Messages, candidate_seed, eos_ids, register
from .batching import plan_batches


@register("transformers")
class TransformersBackend:
    """The model on transformers, per the module docstring. ``loop`` is for tests and
    benchmarks: "decoder" insists on the decoding loop, "generate" avoids it."""

    def __init__(self, spec: Any, precision: str = "auto", loop: str = "auto") -> None:
        import torch

        from . import decoder, packed_linear

        self.precision = resolve_precision(precision)
        model, tokenizer = models.load(spec.spec, dtype=torch.float32)  # an adapter comes merged into its base
        # A CPU without bf16 (AVX2 only) generates in fp32 under `auto`, not int8, though int8 ran
        # 1.7x fp32 there: the blind read of the demo's pairs found 3 of 20 usable in int8 against
        # 18-19 of 28 in fp32 (benchmarks/RESULTS.md, stop 28). int8 stays a choice (--precision int8).
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
        # Under torchrun / accelerate launch each process takes the GPU of its local rank (ranks
        # share GPUs round-robin when there are more processes than GPUs).
        if torch.cuda.is_available():
            self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
        else:
            self.device = "cpu"
        # Parameters only: `model.to(dtype)` would also round buffers such as the rotary
        # embedding's inverse frequencies to bf16, which from_pretrained keeps in fp32.
        self.model = model.to(device=self.device).eval()
        for param in self.model.parameters():
            param.data = param.data.to(dtype)
        if self.precision == "int8":
            quantize_linear_int8(self.model)
        else:
            packed_linear.pack_for_inference(self.model)
        tokenizer.padding_side = "left"  # generation continues from the right end of each row
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids(tokenizer, getattr(self.model, "generation_config", None))
        self.stop_strings: list[str] = []
        self.loop = "decoder" if loop != "generate" and decoder.supports(self.model) else "generate"
        if loop == "decoder" and self.loop != "decoder":
            raise ValueError(f"the decoding loop cannot drive {spec.base}")
        self._decoder = (
            decoder.Decoder(self.model, decoder.StopCheck(tokenizer, self.eos_ids, self.stop_strings))
            if self.loop == "decoder"
            else None
        )

    def complete(
        self,
        prompts: list[list[int]],
        keys: list[str],
        decoding: Decoding,
        stop: list[str],
        messages: Optional[list[Messages]] = None,
    ) -> list[list[Completion]]:
        """Completions per prompt, in prompt order; batches run longest first."""
        if stop != self.stop_strings:
            from .decoder import StopCheck

            self.stop_strings = list(stop)
            if self._decoder:
                self._decoder.stop = StopCheck(self.tokenizer, self.eos_ids, self.stop_strings)
        results: dict[int, list[Completion]] = {}
        for batch in plan_batches(
            [len(x) for x in prompts],
            decoding.max_new_tokens,
            decoding.batch_tokens,
            decoding.batch_size,
            rows_per_prompt=decoding.num_candidates,
        ):
            run = self._decode_batch if self._decoder else self._generate_batch
            for i, generations in zip(batch, run([keys[i] for i in batch], [prompts[i] for i in batch], decoding)):
                results[i] = [Completion(ids, why) for ids, why in generations]
        return [results[i] for i in range(len(prompts))]

    def logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        """Scoring: one forward pass over the batch, log-softmax in fp32 over the scored positions only.

        Rows are left-padded so that every row's scored tokens sit at its right end: the LM head
        then runs on the last columns only (``logits_to_keep``), not on every prompt position. A
        batch of 32 passages of ~450 tokens made a 2.8 GB fp32 logits tensor otherwise, and
        scoring took longer than generating (benchmarks/RESULTS.md).
        """
        import torch

        width = max(len(x) for x in sequences)
        keep = max(len(x) - start for x, start in zip(sequences, starts)) + 1
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(x)) + x for x in sequences], device=self.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in sequences], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
            ).logits.float()
        # Column j of the kept logits predicts the token in column width - keep + j + 1.
        picked = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, width - keep + 1 :, None])[..., 0]
        return [
            picked[i, keep - 1 - (len(x) - start) :].tolist() for i, (x, start) in enumerate(zip(sequences, starts))
        ]

    def _decode_batch(
        self, keys: list[str], ids: list[list[int]], decoding: Decoding
    ) -> list[list[tuple[list[int], str]]]:
        k = decoding.num_candidates
        seeds = [[candidate_seed(decoding.seed, key, c) for c in range(k)] for key in keys]
        out = self._decoder.run(
            ids, k, seeds, decoding.greedy, decoding.temperature, decoding.top_p, decoding.max_new_tokens
        )
        return [[(g.ids, g.finish) for g in row] for row in out]

    def _generate_batch(
        self, keys: list[str], ids: list[list[int]], decoding: Decoding
    ) -> list[list[tuple[list[int], str]]]:
        """transformers' own `generate`, for models the decoding loop does not drive."""
        import torch

        # Seeded by the batch's own passages, so a sampled candidate does not depend on what ran before.
        torch.manual_seed(candidate_seed(decoding.seed, keys[0], 0))
        enc = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        k = decoding.num_candidates
        sampling = {} if decoding.greedy else {"temperature": decoding.temperature, "top_p": decoding.top_p}
        stop = self.stop_strings or None
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                do_sample=not decoding.greedy,
                max_new_tokens=decoding.max_new_tokens,
                num_return_sequences=k,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=stop,
                tokenizer=self.tokenizer if stop else None,
                **sampling,
            )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        return [[self._trim(new[row * k + c], decoding) for c in range(k)] for row in range(len(keys))]

    def _trim(self, ids: list[int], decoding: Decoding) -> tuple[list[int], str]:
        """Drop `generate`'s padding after a finished row and tell why the row ended."""
        pad = self.tokenizer.pad_token_id
        end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
        ids = ids[:end]
        while ids and ids[-1] == pad and pad not in self.eos_ids:
            ids = ids[:-1]

        def stopped(seq):
            return any(s in self.tokenizer.decode(seq) for s in self.stop_strings)

        if ids and ids[-1] == pad and stopped(ids[:-1]):  # pad == EOS: the padding after a stop string
            ids = ids[:-1]
        ended = bool(ids) and ids[-1] in self.eos_ids or stopped(ids)
        return ids, "stop" if ended or len(ids) < decoding.max_new_tokens else "length"

    def close(self) -> None:
        """Free the model's memory (evaluate loads a second model after this one)."""
        import gc

        import torch

        self.model = None
        self._decoder = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def quantize_linear_int8(model: Any) -> None:
    """--precision int8: every linear layer but the output head as int8 weights (per output
    channel) with activations quantized per batch (torch's dynamic quantization, fbgemm/oneDNN
    int8 kernels on AVX2 and AVX-512 CPUs); the head and the rest stay fp32, since the head
    chooses each token and rounding it flips greedy choices most."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    layers = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }
    with warnings.catch_warnings():  # torch.ao's deprecation notices: nothing a user can act on
        warnings.simplefilter("ignore")
        quantize_dynamic(model, layers, dtype=torch.qint8, inplace=True)

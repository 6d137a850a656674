"""The backward model at inference: load it (a `train` folder or a base model for zero-shot
reverse prompting) and write candidate instructions for passages.

Two backends share this module's interface (`generate(passages, decoding)`, `tokenizer`,
`base`, `template`, `precision`, `close()`) and its pieces: the same prompts, tokenized once
with the same tokenizer, the same per-candidate seeds and the same candidate records.
`BackwardModel` runs transformers here; `vllm_engine.VllmBackwardModel` runs vLLM
(`--backend vllm`). `load_backward` picks one.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import models
from .batching import plan_batches
from .errors import UserError
from .hardware import resolve_precision
from .records import Record, stable_id
from .templates import DEFAULT_TEMPLATE, Template, get_template, render

log = logging.getLogger(__name__)
BACKENDS = ("transformers", "vllm")
# The reverse templates' section marker: a generation that starts a new section is done.
STOP_STRINGS = ["###"]


@dataclass
class Decoding:
    num_candidates: int = 1
    greedy: bool = False
    temperature: float = 0.9  # the seed blog's sampling settings
    top_p: float = 0.9
    max_new_tokens: int = 100
    batch_size: int = 64  # most prompts per batch
    batch_tokens: int = 32768  # most padded tokens (prompt + new) per batch
    seed: int = 42


@dataclass(frozen=True)
class BackwardSpec:
    """What --model names: a base model, and a LoRA adapter folder when it is a `train` folder."""

    spec: str
    base: str
    adapter: Optional[Path]
    template: Template

    @classmethod
    def resolve(cls, spec: str, template: str | None = None) -> BackwardSpec:
        manifest = models.read_manifest(spec) if models.is_adapter(spec) else None
        base = manifest["base_model"] if manifest else spec
        name = template or (manifest or {}).get("template") or DEFAULT_TEMPLATE
        return cls(
            spec=spec, base=base, adapter=Path(spec).expanduser() if manifest else None, template=get_template(name)
        )

    @property
    def stop_strings(self) -> list[str]:
        return [] if self.template.chat else STOP_STRINGS


def candidate_seed(seed: int, passage_id: str, index: int) -> int:
    """The seed of one sampled candidate: its passage and index only, so a candidate does not
    depend on the batch it ran in, the batch sizes or the backend's scheduling."""
    key = hashlib.sha256(f"{seed}:{passage_id}:{index}".encode()).digest()
    return int.from_bytes(key[:8], "little") >> 1  # torch and vLLM take seeds below 2**63


def eos_ids(tokenizer: Any, generation_config: Any = None) -> set[int]:
    """Tokens that end a generation: the model's generation config's EOS ids and the tokenizer's."""
    ids = getattr(generation_config, "eos_token_id", None)
    found = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


def make_candidate(
    passage: Record, index: int, ids: list[int], finish: str, tokenizer: Any, template: Template
) -> Record:
    """The candidate record of one generation: the instruction parsed from the decoded text."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return Record(
        output=passage.output,
        instruction=template.parse(text),
        input=passage.input,
        id=stable_id(passage.id, str(index)),
        meta={
            **passage.meta,
            "passage_id": passage.id,
            "candidate": index,
            "finish_reason": finish,
            "generated_tokens": len(ids),
            "raw": text.strip(),
        },
    )


def load_backward(
    spec: str, template: str | None = None, precision: str = "auto", backend: str = "transformers", **options: Any
) -> Any:
    """The backward model on the chosen backend; vLLM options (tensor_parallel_size, ...) pass through."""
    if backend == "vllm":
        from .vllm_engine import VllmBackwardModel

        return VllmBackwardModel(spec, template, precision, **options)
    if backend != "transformers":
        raise UserError(f"Unknown backend '{backend}': choose {' or '.join(BACKENDS)}.")
    return BackwardModel(spec, template, precision)


class BackwardModel:
    """A reverse-instruction model on transformers: LoRA merged into the base (one matmul per
    layer instead of two), in bf16 where the hardware runs it natively (on CPU with its linear
    weights packed once for oneDNN, packed_linear.py), decoded by the loop of decoder.py in
    token-budget batches (or by `generate` for models that loop cannot drive)."""

    name = "transformers"

    def __init__(self, spec: str, template: str | None = None, precision: str = "auto", loop: str = "auto") -> None:
        import torch

        from . import decoder, packed_linear

        self.spec = spec
        self.backward = BackwardSpec.resolve(spec, template)
        self.base, self.template = self.backward.base, self.backward.template
        self.precision = resolve_precision(precision)
        model, tokenizer = models.load(spec, dtype=torch.float32)  # an adapter comes merged into its base
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
        packed_linear.pack_for_inference(self.model)
        tokenizer.padding_side = "left"  # generation continues from the right end of each row
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids(tokenizer, getattr(self.model, "generation_config", None))
        self.stop_strings = self.backward.stop_strings
        # `loop` is for tests and benchmarks: "decoder" insists on the loop, "generate" avoids it.
        self.loop = "decoder" if loop != "generate" and decoder.supports(self.model) else "generate"
        if loop == "decoder" and self.loop != "decoder":
            raise ValueError(f"the decoding loop cannot drive {self.base}")
        self._decoder = (
            decoder.Decoder(self.model, decoder.StopCheck(tokenizer, self.eos_ids, self.stop_strings))
            if self.loop == "decoder"
            else None
        )

    def prompt(self, passage: Record) -> str:
        return render(self.template.prompt(passage), self.tokenizer)

    def prompt_ids(self, passages: list[Record]) -> list[list[int]]:
        """Each prompt tokenized once; batching reads the lengths and the model the ids."""
        return self.tokenizer([self.prompt(p) for p in passages], add_special_tokens=False)["input_ids"]

    def generate(self, passages: list[Record], decoding: Decoding) -> Iterator[Record]:
        """Candidates for each passage, in the order of ``passages`` (batches run longest first)."""
        ids = self.prompt_ids(passages)
        results: dict[int, list[Record]] = {}
        k = decoding.num_candidates
        for batch in plan_batches(
            [len(x) for x in ids],
            decoding.max_new_tokens,
            decoding.batch_tokens,
            decoding.batch_size,
            rows_per_prompt=k,
        ):
            chosen = [passages[i] for i in batch]
            run = self._decode_batch if self._decoder else self._generate_batch
            for i, generations in zip(batch, run(chosen, [ids[i] for i in batch], decoding)):
                results[i] = [
                    make_candidate(passages[i], c, g_ids, why, self.tokenizer, self.template)
                    for c, (g_ids, why) in enumerate(generations)
                ]
        for i in range(len(passages)):
            yield from results[i]

    def _decode_batch(
        self, passages: list[Record], ids: list[list[int]], decoding: Decoding
    ) -> list[list[tuple[list[int], str]]]:
        k = decoding.num_candidates
        seeds = [[candidate_seed(decoding.seed, p.id, c) for c in range(k)] for p in passages]
        out = self._decoder.run(
            ids, k, seeds, decoding.greedy, decoding.temperature, decoding.top_p, decoding.max_new_tokens
        )
        return [[(g.ids, g.finish) for g in row] for row in out]

    def _generate_batch(
        self, passages: list[Record], ids: list[list[int]], decoding: Decoding
    ) -> list[list[tuple[list[int], str]]]:
        """transformers' own `generate`, for models the decoding loop does not drive."""
        import torch

        # Seeded by the batch's own passages, so a sampled candidate does not depend on what ran before.
        torch.manual_seed(candidate_seed(decoding.seed, passages[0].id, 0))
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
        return [[self._trim(new[row * k + c], decoding) for c in range(k)] for row in range(len(passages))]

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

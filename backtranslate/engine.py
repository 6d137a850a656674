"""The backward model at inference: load it (a `train` folder or a base model for zero-shot
reverse prompting) and write candidate instructions for passages in length-sorted batches."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator

from . import models
from .hardware import resolve_precision
from .records import Record, stable_id
from .templates import get_template, render

log = logging.getLogger(__name__)


@dataclass
class Decoding:
    num_candidates: int = 1
    greedy: bool = False
    temperature: float = 0.9  # the seed blog's sampling settings
    top_p: float = 0.9
    max_new_tokens: int = 100
    batch_size: int = 16
    seed: int = 42


class BackwardModel:
    """A reverse-instruction model ready to generate: LoRA merged into the base (one matmul per
    layer instead of two), in bf16 where the hardware runs it natively."""

    def __init__(self, spec: str, template: str | None = None, precision: str = "auto") -> None:
        import torch

        self.spec = spec
        self.manifest = models.read_manifest(spec) if models.is_adapter(spec) else None
        base = self.manifest["base_model"] if self.manifest else spec
        self.template = get_template(template or (self.manifest or {}).get("template") or "reverse")
        self.precision = resolve_precision(precision)
        model, tokenizer = models.load(spec, dtype=torch.float32)  # an adapter comes merged into its base
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
        # Under torchrun / accelerate launch each process takes the GPU of its local rank (ranks
        # share GPUs round-robin when there are more processes than GPUs).
        if torch.cuda.is_available():
            self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
        else:
            self.device = "cpu"
        self.model = model.to(device=self.device, dtype=dtype).eval()
        tokenizer.padding_side = "left"  # generation continues from the right end of each row
        self.tokenizer = tokenizer
        self.base = base

    def prompt(self, passage: Record) -> str:
        return render(self.template.prompt(passage), self.tokenizer)

    def generate(self, passages: list[Record], decoding: Decoding) -> Iterator[Record]:
        """Candidates for each passage, in the order of ``passages`` (batches run longest first)."""
        prompts = [self.prompt(p) for p in passages]
        lengths = [len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        order = sorted(range(len(passages)), key=lambda i: -lengths[i])
        results: dict[int, list[Record]] = {}
        for start in range(0, len(order), decoding.batch_size):
            batch = order[start:start + decoding.batch_size]
            for i, cands in zip(batch, self._generate_batch([passages[i] for i in batch],
                                                            [prompts[i] for i in batch], decoding)):
                results[i] = cands
        for i in range(len(passages)):
            yield from results[i]

    def _generate_batch(self, passages: list[Record], prompts: list[str], decoding: Decoding) -> list[list[Record]]:
        import torch

        # Seeded by the batch's own passages, so a sampled candidate does not depend on what ran before.
        key = hashlib.sha256(f"{decoding.seed}:{passages[0].id}".encode()).digest()
        torch.manual_seed(int.from_bytes(key[:8], "little"))
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        k = decoding.num_candidates
        sampling = {} if decoding.greedy else {"temperature": decoding.temperature, "top_p": decoding.top_p}
        stop = ["###"] if not self.template.chat else None
        with torch.inference_mode():
            out = self.model.generate(
                **enc, do_sample=not decoding.greedy, max_new_tokens=decoding.max_new_tokens,
                num_return_sequences=k, pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=stop, tokenizer=self.tokenizer if stop else None, **sampling,
            )
        new = out[:, enc["input_ids"].shape[1]:]
        batch: list[list[Record]] = []
        for row, passage in enumerate(passages):
            cands = []
            for c in range(k):
                ids = new[row * k + c].tolist()
                cands.append(self._candidate(passage, c, ids, decoding))
            batch.append(cands)
        return batch

    def _candidate(self, passage: Record, index: int, ids: list[int], decoding: Decoding) -> Record:
        tok = self.tokenizer
        pad, eos = tok.pad_token_id, tok.eos_token_id
        while ids and ids[-1] == pad and pad != eos:
            ids = ids[:-1]
        raw = tok.decode(ids, skip_special_tokens=False)
        ended = eos in ids or "###" in raw
        finish = "stop" if ended or len(ids) < decoding.max_new_tokens else "length"
        text = tok.decode(ids, skip_special_tokens=True)
        return Record(
            output=passage.output, instruction=self.template.parse(text), input=passage.input,
            id=stable_id(passage.id, str(index)),
            meta={**passage.meta, "passage_id": passage.id, "candidate": index, "finish_reason": finish,
                  "generated_tokens": len(ids), "raw": text.strip()},
        )

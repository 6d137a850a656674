"""A backend with no model (`--backend fake`): it loads only the tokenizer of ``--model`` and
"writes" each instruction from the passage's first words, deterministically.

For tests of everything around the model (reading, hygiene, filters, resume, merge, formats)
without loading or running weights, and for a quick dry pass of a corpus through the pipeline's
filters. Sampled candidates differ by their seed (``candidate_seed``), as a real backend's do.
"""

from __future__ import annotations

import random
import re
from typing import Any, Optional

from .. import models
from .base import Completion, Decoding, Messages, candidate_seed, register

_INPUT = re.compile(r"### Input:\n(.*?)(?:\n\n### |\Z)", re.S)
VERBS = ("Write", "Explain", "Describe", "Summarize")


@register("fake")
class FakeBackend:
    def __init__(self, spec: Any, precision: str = "auto") -> None:
        self.precision = "fp32"
        self.tokenizer = models.load_tokenizer(spec.spec)

    def complete(
        self,
        prompts: list[list[int]],
        keys: list[str],
        decoding: Decoding,
        stop: list[str],
        messages: Optional[list[Messages]] = None,
    ) -> list[list[Completion]]:
        out = []
        for prompt, key in zip(prompts, keys):
            text = self.tokenizer.decode(prompt, skip_special_tokens=True)
            found = _INPUT.search(text)
            words = (found.group(1) if found else text).split()[:8]
            row = []
            for c in range(decoding.num_candidates):
                verb = (
                    VERBS[0] if decoding.greedy else random.Random(candidate_seed(decoding.seed, key, c)).choice(VERBS)
                )
                instruction = f"{verb} a text that begins: {' '.join(words)}"
                ids = self.tokenizer(instruction, add_special_tokens=False)["input_ids"][: decoding.max_new_tokens]
                row.append(Completion(ids, "stop" if len(ids) < decoding.max_new_tokens else "length"))
            out.append(row)
        return out

    def close(self) -> None:
        self.tokenizer = None

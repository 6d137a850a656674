"""The backward model on any backend: passages in, candidate instructions out.

`BackwardModel` resolves what ``--model`` names (a base model, or a `train` folder with its LoRA
adapter and template), loads the chosen backend, and turns passages into candidate records: the
prompt of each passage rendered and tokenized once with the model's tokenizer, the template's
stop strings, the generation parsed into an instruction. Backends only continue token ids, so
every backend builds the same prompts and the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .. import models
from ..priming import primer
from ..records import Record, stable_id
from ..templates import DEFAULT_TEMPLATE, Template, get_template, render
from .base import Backend, Completion, Decoding, entry

log = logging.getLogger(__name__)


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


class BackwardModel:
    """A reverse-instruction model on a registered backend (``backend``: transformers, vllm,
    ...); ``options`` are the backend's own settings."""

    def __init__(
        self,
        spec: str,
        template: str | None = None,
        precision: str = "auto",
        backend: str = "transformers",
        prime: bool = False,
        **options: Any,
    ) -> None:
        self.spec = spec
        self.backward = BackwardSpec.resolve(spec, template)
        self.base, self.template = self.backward.base, self.backward.template
        self.stop_strings = self.template.stop_strings  # the template owns its stop strings
        self.engine: Backend = entry(backend).cls(self.backward, precision, **options)
        self.tokenizer = self.engine.tokenizer
        self.precision = self.engine.precision
        # Open mail instructions the way the seed's pairs of that kind open (priming.py). A server's
        # chat endpoint takes messages, not the rendered prompt the primer is appended to, and its
        # servers differ in how (or whether) they continue an assistant message: no primer there.
        self.prime = prime and not (self.template.chat and getattr(self.engine, "takes_messages", False))
        if prime and not self.prime:
            log.warning("--prime: a chat template on the %s backend sends messages; no primer is used", backend)

    @property
    def backend(self) -> str:
        return self.engine.name

    def primer(self, passage: Record) -> str:
        return primer(passage) if self.prime else ""

    def prompt(self, passage: Record, primed: bool = True) -> str:
        """The text the model continues; ``primed=False`` leaves the primer out (a scorer that
        reads the whole instruction, primer included, after the prompt)."""
        return render(self.template.prompt(passage), self.tokenizer) + (self.primer(passage) if primed else "")

    def prompt_ids(self, passages: list[Record]) -> list[list[int]]:
        """Each prompt tokenized once; the backend reads the lengths and the ids."""
        return self.tokenizer([self.prompt(p) for p in passages], add_special_tokens=False)["input_ids"]

    def generate(self, passages: list[Record], decoding: Decoding, first_index: int = 0) -> Iterator[Record]:
        """Candidates for each passage, in the order of ``passages``, numbered from ``first_index``
        (a retry's candidates follow the greedy candidate 0, so their ids differ from it)."""
        if not passages:
            return
        # A chat template's messages go along: a server backend sends them to its chat endpoint.
        messages = [self.template.prompt(p) for p in passages] if self.template.chat else None
        done = self.engine.complete(
            self.prompt_ids(passages), [p.id for p in passages], decoding, self.stop_strings, messages
        )
        for passage, completions in zip(passages, done):
            for index, completion in enumerate(completions, first_index):
                yield self.candidate(passage, index, completion)

    def candidate(self, passage: Record, index: int, completion: Completion) -> Record:
        """The candidate record of one generation: the instruction parsed from the decoded text
        (after the primer, where there is one)."""
        opening = self.primer(passage)
        text = opening + completion.decode(self.tokenizer, getattr(self.engine, "eos_ids", ()))
        return Record(
            output=passage.output,
            instruction=self.template.parse(text),
            input=passage.input,
            id=stable_id(passage.id, str(index)),
            meta={
                **passage.meta,
                "passage_id": passage.id,
                "candidate": index,
                "finish_reason": completion.finish,
                "generated_tokens": completion.length,
                "raw": text.strip(),
                **({"primer": opening} if opening else {}),
            },
        )

    def close(self) -> None:
        """Free the model (vLLM's engine processes end here, not at interpreter exit)."""
        self.engine.close()

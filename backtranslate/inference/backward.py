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

from .. import models, priming
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
        return priming.primer(passage) if self.prime else ""

    def closed(self, passage: Record) -> str:
        """The whole instruction where the primer says all there is to say (priming.closed)."""
        return priming.closed(passage) if self.prime else ""

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
        # A patch asked for by its subject needs no model (priming.closed): one candidate, no tokens.
        closed = [self.closed(p) for p in passages]
        asked = [p for p, c in zip(passages, closed) if not c]
        # A chat template's messages go along: a server backend sends them to its chat endpoint.
        messages = [self.template.prompt(p) for p in asked] if self.template.chat else None
        done = iter(
            self.engine.complete(self.prompt_ids(asked), [p.id for p in asked], decoding, self.stop_strings, messages)
            if asked
            else ()
        )
        for passage, instruction in zip(passages, closed):
            if instruction:
                yield self.candidate(passage, first_index, Completion(ids=[], finish="stop", text=""))
                continue
            for index, completion in enumerate(next(done), first_index):
                yield self.candidate(passage, index, completion)

    def candidate(self, passage: Record, index: int, completion: Completion) -> Record:
        """The candidate record of one generation: the instruction parsed from the decoded text
        (after the primer, where there is one)."""
        opening = self.closed(passage) or self.primer(passage)
        text = opening + completion.decode(self.tokenizer, getattr(self.engine, "eos_ids", ()))
        return Record(
            output=passage.output,
            instruction=priming.finish(self.template.parse(text), opening),
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

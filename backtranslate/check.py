"""`backtranslate check`: does the model load and answer on its backend, and what does it write?

Builds the backward model exactly as `generate` does (for a server backend that runs its start-up
checks: reachable, OpenAI-compatible, the key accepted, the model or adapter served, token-id
prompts taken), then writes one greedy instruction for a passage. Writes nothing to disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from .config import CheckConfig
from .inference import BackwardModel, Decoding, options_from
from .records import Record

PREVIEW_CHARS = 300


@dataclass
class CheckResult:
    backend: str
    model: str
    base: str
    template: str
    precision: str
    server: Optional[dict[str, Any]]
    load_seconds: float
    generate_seconds: float
    passage: str
    instruction: str
    generated_tokens: int
    finish: str


def default_passage() -> str:
    """A response of the shipped seed: real text whose instruction a reader can guess."""
    from .readers.seed import load_seed

    return load_seed().records[0].output


def check(cfg: CheckConfig) -> CheckResult:
    started = time.perf_counter()
    model = BackwardModel(cfg.model, cfg.template, cfg.precision, cfg.backend, **options_from(cfg.backend, cfg))
    loaded = time.perf_counter()
    try:
        text = cfg.passage or default_passage()
        decoding = Decoding(greedy=True, max_new_tokens=cfg.max_new_tokens, batch_size=1)
        (candidate,) = model.generate([Record(output=text, id="check")], decoding)
        done = time.perf_counter()
        return CheckResult(
            backend=model.backend,
            model=cfg.model,
            base=model.base,
            template=model.template.name,
            precision=model.precision,
            server=getattr(model.engine, "notes", None),
            load_seconds=round(loaded - started, 2),
            generate_seconds=round(done - loaded, 2),
            passage=text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "...",
            instruction=candidate.instruction,
            generated_tokens=candidate.meta["generated_tokens"],
            finish=candidate.meta["finish_reason"],
        )
    finally:
        model.close()

"""The generate run a test can afford, in one place: the demo's mail, greedy, 12 new tokens, fp32.

Tests change what they check (``filter=False``, ``rewrite=...``) and keep the rest, so a new
setting every quick run needs is added here once, not in each test file's helper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtranslate.config import GenerateConfig

CORPORA = Path(__file__).resolve().parents[1] / "corpora"


def quick_generate(model: Any, out: Any, **overrides: Any) -> GenerateConfig:
    base: dict[str, Any] = dict(
        corpus=str(CORPORA / "emails"),
        out=str(out),
        model=str(model),
        greedy=True,
        max_new_tokens=12,
        batch_size=4,
        precision="fp32",
    )
    return GenerateConfig(**{**base, **overrides})

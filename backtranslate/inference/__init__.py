"""Inference: the backward model behind one `Backend` protocol, with a registry by name.

- base.py: `Decoding`, `Completion`, the `Backend` protocol, the registry, per-candidate seeds.
- backward.py: `BackwardModel`, passages -> candidate instructions on any backend.
- transformers_backend.py (default; with decoder.py, packed_linear.py and batching.py),
  vllm_backend.py, openai_backend.py (any OpenAI-compatible server), fake_backend.py (no model,
  for tests): one module per backend.

A new backend is one module here whose class carries `@register("name")` (and its settings
dataclass, if it has any), plus its import line below.
"""

from . import fake_backend, openai_backend, transformers_backend, vllm_backend  # noqa: F401  (they register themselves)
from .backward import BackwardModel, BackwardSpec
from .base import (
    BACKENDS,
    Backend,
    Completion,
    Decoding,
    backend_option_classes,
    candidate_seed,
    option_names,
    option_problems,
    options_from,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackwardModel",
    "BackwardSpec",
    "Completion",
    "Decoding",
    "backend_option_classes",
    "candidate_seed",
    "option_names",
    "option_problems",
    "options_from",
]

"""What every inference backend shares: the decoding settings, the `Backend` protocol, the
registry of backends by name, and per-candidate seeds.

A backend is a model that continues token-id prompts (`complete`). Everything above that (which
prompt a passage becomes, how a generation is parsed into an instruction, the candidate
record) is written once, in backward.py, so every backend builds the very same prompts and
records. Adding a backend is one module that defines a class with `@register("name")`, plus its
import line in `inference/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Protocol

from ..errors import UserError

Messages = list[dict[str, str]]  # one chat prompt: [{"role": ..., "content": ...}, ...]


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

    @classmethod
    def of(cls, cfg: Any) -> Decoding:
        """The decoding settings of a command's config (generate, plan, eval): the same field
        names everywhere, so one reading of them."""
        return cls(
            num_candidates=getattr(cfg, "num_candidates", 1),
            greedy=getattr(cfg, "use_greedy", cfg.greedy),
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size,
            batch_tokens=getattr(cfg, "batch_tokens", cls.batch_tokens),
            seed=cfg.random_seed,
        )


@dataclass(frozen=True)
class Completion:
    """One generated continuation: its new token ids and why it ended ("stop" or "length").

    A server answers with text, not ids: it sets ``text`` and ``tokens`` (the count the server
    reported) and leaves ``ids`` empty.
    """

    ids: list[int]
    finish: str
    text: Optional[str] = None
    tokens: Optional[int] = None

    def decode(self, tokenizer: Any, eos: Any = ()) -> str:
        """The generated text, the same on every backend. An end-of-sequence token (one of
        ``eos``) ends the text and is not part of it, special or not, as servers leave it out."""
        if self.text is not None:
            return self.text
        ids = self.ids[:-1] if self.ids and self.ids[-1] in eos else self.ids
        # A generation cut short can end on part of a character's bytes, which decodes to U+FFFD;
        # servers' streaming detokenizers hold such a part back, and so is it dropped here.
        return tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")

    @property
    def length(self) -> int:
        """Generated tokens."""
        return self.tokens if self.tokens is not None else len(self.ids)


class Backend(Protocol):
    """A loaded model that continues prompts.

    ``complete(prompts, keys, decoding, stop)`` returns, for each prompt (token ids rendered
    with ``tokenizer``), ``decoding.num_candidates`` completions, in prompt order. ``keys`` name
    the prompts (passage ids): a sampled candidate's seed comes from its key and index only
    (``candidate_seed``), so it does not depend on batching or scheduling. Generation ends at the
    model's EOS tokens or at any of ``stop``.

    ``messages``, when given, are the same prompts as chat messages (a chat template's prompts,
    before the tokenizer's chat template rendered them): a server backend sends those to its
    chat endpoint, which applies the model's chat template itself. In-process backends ignore them;
    one that sends them says so with ``takes_messages = True`` (read with getattr, default False).
    """

    name: ClassVar[str]
    tokenizer: Any
    precision: str

    def complete(
        self,
        prompts: list[list[int]],
        keys: list[str],
        decoding: Decoding,
        stop: list[str],
        messages: Optional[list[Messages]] = None,
    ) -> list[list[Completion]]: ...

    def close(self) -> None: ...


class Scoring(Protocol):
    """What a backend that can read log-probabilities adds (transformers, vllm, openai): for each
    token sequence, log p(token | the tokens before it) of every token from ``start`` on. The
    likelihood scorer (curate.py) asks for it; a backend without it is refused by name."""

    def logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]: ...


def scoring(engine: Any) -> Scoring:
    """``engine`` as a Scoring backend, or the sentence that says it is not one."""
    if not callable(getattr(engine, "logprobs", None)):
        raise UserError(f"--backend {engine.name} does not give log-probabilities; score with another backend.")
    return engine


@dataclass(frozen=True)
class Entry:
    """A registered backend: its class and the dataclass of its own settings (config fields
    that apply to this backend only, given to its constructor as keyword arguments)."""

    name: str
    cls: Callable[..., Backend]
    options: Optional[type] = None

    def option_fields(self) -> list[dataclasses.Field]:
        return list(dataclasses.fields(self.options)) if self.options else []


BACKENDS: dict[str, Entry] = {}


def register(name: str, options: Optional[type] = None) -> Callable[[type], type]:
    """Class decorator: make a backend available as ``--backend name``."""

    def add(cls: type) -> type:
        cls.name = name
        BACKENDS[name] = Entry(name, cls, options)
        return cls

    return add


def entry(name: str) -> Entry:
    if name not in BACKENDS:
        raise UserError(f"Unknown backend '{name}': choose {', '.join(sorted(BACKENDS))}.")
    return BACKENDS[name]


def options_from(name: str, settings: Any) -> dict[str, Any]:
    """The chosen backend's own settings, read from a config object or dict by field name."""
    get = settings.get if isinstance(settings, dict) else lambda k, d: getattr(settings, k, d)
    return {f.name: get(f.name, _default(f)) for f in entry(name).option_fields()}


def option_problems(name: str, settings: Any) -> list[str]:
    """Settings of a backend other than the chosen one that differ from their defaults (they would
    be silently ignored), and the chosen backend's own checks (its options' ``problems()``)."""
    if name not in BACKENDS:
        return [f"backend must be one of {', '.join(sorted(BACKENDS))}, got '{name}'"]
    problems = []
    for other in BACKENDS.values():
        changed = [f.name for f in other.option_fields() if getattr(settings, f.name, _default(f)) != _default(f)]
        if other.name != name and changed:
            verb = "applies" if len(changed) == 1 else "apply"
            problems.append(f"{', '.join(changed)} {verb} to --backend {other.name} only, not {name}")
    chosen = entry(name)
    if chosen.options:
        problems += chosen.options(**options_from(name, settings)).problems()
    return problems


def backend_option_classes() -> tuple[type, ...]:
    """The settings dataclasses of every registered backend (config.BackendSettings inherits them)."""
    return tuple(e.options for e in BACKENDS.values() if e.options)


def option_names() -> set[str]:
    """Every backend's own settings: they change how a run is carried out, not what it makes."""
    return {f.name for e in BACKENDS.values() for f in e.option_fields()}


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def candidate_seed(seed: int, key: str, index: int) -> int:
    """The seed of one sampled candidate: its passage and index only, so a candidate does not
    depend on the batch it ran in, the batch sizes or the backend's scheduling."""
    digest = hashlib.sha256(f"{seed}:{key}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # torch and vLLM take seeds below 2**63


def eos_ids(tokenizer: Any, generation_config: Any = None) -> set[int]:
    """Tokens that end a generation: the model's generation config's EOS ids and the tokenizer's."""
    ids = getattr(generation_config, "eos_token_id", None)
    found = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found

"""The transformers decoding loop behind the backward model.

What it does differently from `model.generate` (which it matches token for token on greedy
decoding, see tests/test_decoder.py):

- each prompt is prefilled once and without padding, on top of the prompts' common beginning
  (computed once), and its candidates share that prefill instead of repeating it;
- the keys and values of the running rows live in one preallocated buffer that a decode step
  writes one column of, instead of `DynamicCache` concatenating (copying) the whole cache;
- a row leaves the batch as soon as it writes EOS or a stop string, where `generate` keeps
  computing finished rows until the longest one ends;
- sampling draws each row's random numbers from its own seed, so a candidate depends on its
  passage and the seed only, not on which other passages shared its batch.

It serves models whose cache is a plain full-attention cache (Llama, Qwen, Mistral without a
sliding window, ...); `supports()` says so, and the engine falls back to `generate` otherwise.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from .batching import equal_length_runs

# Finished rows keep their slot until this share of the batch has finished: compacting the
# buffer copies the whole cache, which on CPU costs about as much as a decode step.
COMPACT_SHARE = 0.25


@dataclass
class Generation:
    ids: list[int]  # generated tokens, the EOS or stop-string token included
    finish: str  # "stop" (EOS or a stop string) or "length" (max_new_tokens reached)


def supports(model: Any) -> bool:
    """Whether the loop can drive this model: a decoder whose every layer keeps a plain cache."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    try:
        layers = DynamicCache(config=config).layers
    except Exception:  # a config DynamicCache cannot read is one we do not drive either
        return False
    return all(type(layer) is DynamicLayer for layer in layers)


def cache_argument(model: Any) -> str:
    """transformers 5.24 renamed the forward argument ``past_key_values`` to ``cache``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def shared_prefix(prompts: list[list[int]]) -> int:
    """How many leading tokens all prompts share, leaving each at least one of its own (the
    prefill of a prompt's last token gives its first logits)."""
    first, limit = prompts[0], min(len(p) for p in prompts) - 1
    n = 0
    while n < limit and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


def additive_mask(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean attention mask as the additive one SDPA adds to the scores: CPU SDPA converts a
    boolean mask to this form in every call of every layer (a decode step's attention costs
    about a quarter more with the boolean mask, benchmarks/RESULTS.md)."""
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill_(~keep, torch.finfo(dtype).min)


class StopCheck:
    """EOS tokens and stop strings. A stop string counts as soon as it appears in the decoded
    text of the row's last few tokens, which is where it can first appear."""

    def __init__(self, tokenizer: Any, eos_ids: set[int], stop_strings: list[str]) -> None:
        self.tokenizer, self.eos_ids, self.strings = tokenizer, eos_ids, stop_strings
        # A stop string of n characters spans at most n tokens (plus a few that decode to
        # partial UTF-8 bytes); a wider window costs nothing noticeable.
        self.window = max((len(s) for s in stop_strings), default=0) + 4

    def finished(self, generated: list[list[int]]) -> list[bool]:
        done = [bool(ids) and ids[-1] in self.eos_ids for ids in generated]
        if self.strings:
            tails = self.tokenizer.batch_decode([ids[-self.window :] for ids in generated])
            done = [d or any(s in tail for s in self.strings) for d, tail in zip(done, tails)]
        return done


def choose(
    logits: torch.Tensor, greedy: bool, temperature: float, top_p: float, uniforms: torch.Tensor
) -> torch.Tensor:
    """Next token per row: argmax, or a draw after temperature and nucleus (top-p) filtering,
    as transformers' TopPLogitsWarper filters. ``uniforms`` holds one number in [0, 1) per row;
    inverse-CDF sampling turns it into a token, so each row's draw is its own."""
    if greedy:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_p < 1.0:
        ordered, order = logits.sort(-1)
        remove = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
        remove[:, -1] = False
        logits = logits.scatter(-1, order, ordered.masked_fill(remove, float("-inf")))
    cdf = logits.softmax(-1).cumsum(-1)
    u = (uniforms.to(cdf.device) * cdf[:, -1]).clamp_(min=1e-12)
    return torch.searchsorted(cdf, u[:, None]).squeeze(1).clamp_(max=cdf.shape[-1] - 1)


class _BufferLayer:
    """One layer's keys and values for all running rows, ``[rows, heads, capacity, dim]``.
    Rows are right-aligned: every row's newest token sits in the same column, a shorter row is
    preceded by masked padding. Implements the part of transformers' cache-layer interface a
    decoder layer calls."""

    is_sliding = False
    is_compileable = False
    is_initialized = True

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        self.keys, self.values, self.length = keys, values, length

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        n = key_states.shape[-2]
        self.keys[:, :, self.length : self.length + n] = key_states
        self.values[:, :, self.length : self.length + n] = value_states
        self.length += n
        return self.keys[:, :, : self.length], self.values[:, :, : self.length]

    def get_seq_length(self, *args: Any) -> int:
        return self.length

    def get_mask_sizes(self, query_length: Any, *args: Any) -> tuple[int, int]:
        q = query_length.shape[0] if isinstance(query_length, torch.Tensor) else int(query_length)
        return self.length + q, 0

    def get_max_length(self) -> int:
        return -1


class _Batch:
    """The running rows: their cache buffer, first valid column, tokens and random numbers."""

    def __init__(
        self, layers: list[_BufferLayer], start: torch.Tensor, owners: list[int], uniforms: torch.Tensor
    ) -> None:
        self.layers, self.start, self.owners, self.uniforms = layers, start, owners, uniforms
        self.alive = [True] * len(owners)

    @property
    def length(self) -> int:
        return self.layers[0].length

    def compact(self) -> None:
        """Drop finished rows and the leading columns no remaining row uses (one copy)."""
        keep = [i for i, a in enumerate(self.alive) if a]
        index = torch.tensor(keep, device=self.start.device)
        start = self.start[index]
        first = int(start.min())
        for layer in self.layers:
            layer.keys = layer.keys[index, :, first:].contiguous()
            layer.values = layer.values[index, :, first:].contiguous()
            layer.length -= first
        self.start = start - first
        self.owners = [self.owners[i] for i in keep]
        self.uniforms = self.uniforms[index.to(self.uniforms.device)]
        self.alive = [True] * len(keep)


class Decoder:
    """Greedy or sampled decoding of many prompts with one model, per the class docstring."""

    def __init__(self, model: Any, stop: StopCheck) -> None:
        from transformers import DynamicCache

        self.model, self.stop = model, stop
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.cache_arg = cache_argument(model)
        self._new_cache = lambda: DynamicCache(config=model.config)
        # Where the time goes (benchmarks/throughput.py prints it): prefill and decode seconds,
        # prompt tokens, decode steps and row-steps (rows computed, finished ones included).
        self.stats: Counter = Counter()

    def run(
        self,
        prompts: list[list[int]],
        candidates: int,
        seeds: list[list[int]],
        greedy: bool,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
    ) -> list[list[Generation]]:
        """Decode ``candidates`` continuations of each prompt; ``seeds[i][c]`` seeds candidate c
        of prompt i. Returns the generations per prompt, in the order given."""
        started = time.perf_counter()
        logits, batch = self._prefill(prompts, candidates, seeds, max_new_tokens)
        self.stats.update(prefill_s=time.perf_counter() - started, prompt_tokens=sum(len(p) for p in prompts))
        started = time.perf_counter()
        generated: list[list[int]] = [[] for _ in batch.owners]
        finish = ["length"] * len(batch.owners)
        # All rows start together, so every running row has written `step` tokens.
        for step in range(max_new_tokens):
            tokens = choose(logits, greedy, temperature, top_p, batch.uniforms[:, step])
            running = [r for r, alive in enumerate(batch.alive) if alive]
            # One device-to-host copy per step; reading row by row would wait on the GPU per row.
            chosen = tokens.tolist()
            for r in running:
                generated[batch.owners[r]].append(chosen[r])
            for r, stopped in zip(running, self.stop.finished([generated[batch.owners[r]] for r in running])):
                if stopped:
                    batch.alive[r] = False
                    finish[batch.owners[r]] = "stop"
            left = sum(batch.alive)
            if left == 0 or step + 1 == max_new_tokens:
                break
            if len(batch.alive) - left >= max(1.0, COMPACT_SHARE * len(batch.alive)):
                keep = torch.tensor([r for r, alive in enumerate(batch.alive) if alive], device=tokens.device)
                tokens = tokens[keep]
                batch.compact()
            self.stats.update(steps=1, row_steps=len(batch.alive))
            logits = self._step(batch, tokens)
        self.stats.update(decode_s=time.perf_counter() - started, tokens=sum(len(g) for g in generated))
        out = [Generation(ids, why) for ids, why in zip(generated, finish)]
        return [out[i * candidates : (i + 1) * candidates] for i in range(len(prompts))]

    def _forward(self, cache: Any, **inputs: Any) -> torch.Tensor:
        """Logits of each row's last position. That position is picked by index, not by the
        slice `logits_to_keep=1` makes: on CPU the slice's odd strides send the bf16 LM-head
        matmul down a path that copies the whole head per call (~55 ms for SmolLM2, 20x the
        matmul itself)."""
        last = torch.tensor([inputs["input_ids"].shape[1] - 1], device=self.device)
        out = self.model(**inputs, **{self.cache_arg: cache}, use_cache=True, logits_to_keep=last)
        return out.logits[:, -1, :]

    def _prefill(
        self, prompts: list[list[int]], candidates: int, seeds: list[list[int]], max_new_tokens: int
    ) -> tuple[torch.Tensor, _Batch]:
        """Prefill every prompt once and lay its keys and values, right-aligned, into a buffer
        with room for ``max_new_tokens`` more columns; candidates copy their prompt's rows.

        The prompts' common beginning (the template's instruction, ~13% of a demo prompt) is
        computed once and each prompt goes on from it; prompts of equal length share a pass.
        Nothing is padded: a pad token costs as much as a real one."""
        width = max(len(p) for p in prompts)
        rows = len(prompts) * candidates
        shared = shared_prefix(prompts)
        prefix = self._new_cache()
        if shared:
            with torch.inference_mode():
                self._forward(prefix, input_ids=torch.tensor([prompts[0][:shared]], device=self.device))
        layers: list[_BufferLayer] = []
        last: list[torch.Tensor] = [torch.empty(0)] * len(prompts)
        for group in equal_length_runs([len(p) for p in prompts]):
            length = len(prompts[group[0]])
            cache = self._new_cache()
            for index, layer in enumerate(prefix.layers if shared else []):
                cache.update(
                    layer.keys.expand(len(group), -1, -1, -1), layer.values.expand(len(group), -1, -1, -1), index
                )
            ids = torch.tensor([prompts[i][shared:] for i in group], device=self.device)
            positions = torch.arange(shared, length, device=self.device).expand(len(group), -1)
            with torch.inference_mode():
                logits = self._forward(cache, input_ids=ids, position_ids=positions)
            for j, i in enumerate(group):
                last[i] = logits[j]
            if not layers:
                layers = [self._empty_layer(layer.keys, rows, width + max_new_tokens, width) for layer in cache.layers]
            for layer, source in zip(layers, cache.layers):
                for j, i in enumerate(group):
                    span = slice(i * candidates, (i + 1) * candidates)
                    layer.keys[span, :, width - length : width] = source.keys[j]
                    layer.values[span, :, width - length : width] = source.values[j]
        start = torch.tensor([width - len(p) for p in prompts for _ in range(candidates)], device=self.device)
        uniforms = torch.stack(
            [torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(s)) for row in seeds for s in row]
        )
        batch = _Batch(layers, start, list(range(rows)), uniforms)
        return torch.stack(last).repeat_interleave(candidates, dim=0), batch

    def _empty_layer(self, like: torch.Tensor, rows: int, capacity: int, length: int) -> _BufferLayer:
        shape = (rows, like.shape[1], capacity, like.shape[3])
        return _BufferLayer(
            torch.zeros(shape, dtype=like.dtype, device=like.device),
            torch.zeros(shape, dtype=like.dtype, device=like.device),
            length,
        )

    def _step(self, batch: _Batch, tokens: torch.Tensor) -> torch.Tensor:
        """One token for every row; finished rows not yet compacted away compute along, unread."""
        from transformers.cache_utils import Cache

        length = batch.length
        columns = torch.arange(length + 1, device=self.device)
        # An explicit 4D mask: transformers passes it through as is (no mask building per step),
        # and attention keeps its grouped-query path (no mask sends CPU SDPA down a slow one).
        mask = additive_mask(columns[None, :] >= batch.start[:, None], self.dtype)[:, None, None, :]
        positions = (length - batch.start)[:, None]
        with torch.inference_mode():
            return self._forward(
                Cache(layers=batch.layers), input_ids=tokens[:, None], attention_mask=mask, position_ids=positions
            )

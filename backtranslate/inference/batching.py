"""Which prompts run together: token-budget batches, longest prompt first.

A batch is bounded by the tokens it holds, not by a count of prompts: rows x (longest prompt +
new tokens) padded tokens, so short passages run many to a batch and long ones few, and the KV
cache of a batch never outgrows the budget. Pure functions over prompt lengths, so the promise
that every prompt runs exactly once is testable without a model.
"""

from __future__ import annotations


def longest_first(lengths: list[int]) -> list[int]:
    """Prompt indices, longest first; equal lengths keep their input order (a stable sort)."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def plan_batches(
    lengths: list[int], new_tokens: int, batch_tokens: int, max_rows: int, rows_per_prompt: int = 1
) -> list[list[int]]:
    """Split prompts into batches, longest first, so that each batch's padded size
    ``rows x (its longest prompt + new_tokens)`` stays within ``batch_tokens`` and it holds at
    most ``max_rows`` rows (a prompt makes ``rows_per_prompt`` rows, one per candidate). A prompt
    too long for the budget on its own runs alone rather than being dropped."""
    batches: list[list[int]] = []
    for i in longest_first(lengths):
        if batches:
            batch = batches[-1]
            rows = (len(batch) + 1) * rows_per_prompt
            # Sorted longest first: the batch's first prompt is its longest, so it sets the width.
            width = lengths[batch[0]] + new_tokens
            if rows <= max(max_rows, rows_per_prompt) and rows * width <= batch_tokens:
                batch.append(i)
                continue
        batches.append([i])
    return batches


def equal_length_runs(lengths: list[int]) -> list[list[int]]:
    """Prompt indices grouped by length, longest first: prompts of one length share a prefill
    pass without padding (a pad token costs as much as a real one)."""
    runs: dict[int, list[int]] = {}
    for i in longest_first(lengths):
        runs.setdefault(lengths[i], []).append(i)
    return list(runs.values())

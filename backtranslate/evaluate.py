"""Stage: measure the backward model on held-out pairs.

For each human (instruction, response) pair the model writes an instruction for the response;
ROUGE-L and embedding cosine say how close it came to the human one. A trained adapter is scored
side by side with zero-shot reverse prompting of its own base model, so the report says whether
training helped and by how much, not just a number without a yardstick.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .inference import BackwardModel, Decoding
from .io import write_json_atomic
from .metrics import default_embedder, rouge_l
from .models import is_adapter, read_manifest
from .readers.seed import SeedSet, load_seed
from .records import Record
from .templates import DEFAULT_TEMPLATE

DEFAULT_DECODING = Decoding(greedy=True)  # generate's defaults: eval measures what generate writes
BASELINE_TEMPLATE = DEFAULT_TEMPLATE
METRICS = ("rouge_l", "cosine")


def heldout_pairs(spec: str, fields: str | None = None, limit: int | None = None) -> tuple[SeedSet, list[Record]]:
    """Held-out pairs in file order. A Self-Instruct task counts once (its instruction with the
    first instance's output): its other instances would score the same instruction again."""
    seed = load_seed(spec, fields)
    pairs = seed.records
    if seed.layout == "self-instruct":
        first: dict[str, Record] = {}
        for record in pairs:
            first.setdefault(record.instruction, record)
        pairs = list(first.values())  # dicts keep insertion order: file order
    return seed, pairs[:limit] if limit else pairs


def _passages(pairs: list[Record], tokenizer: Any, max_tokens: int | None) -> list[Record]:
    """What the backward model sees: the response (cut to max_tokens), its input as context, and
    no instruction. The pair's id keeps each generation tied to its pair."""
    passages = []
    for pair in pairs:
        output, meta = pair.output, {}
        ids = tokenizer(output, add_special_tokens=False)["input_ids"] if max_tokens else []
        if max_tokens and len(ids) > max_tokens:
            output = tokenizer.decode(ids[:max_tokens], skip_special_tokens=True)
            meta = {"truncated_tokens": len(ids) - max_tokens}
        passages.append(Record(output=output, input=pair.input, id=pair.id, meta=meta))
    return passages


def _write_instructions(model: BackwardModel, passages: list[Record], decoding: Decoding, label: str = "") -> list[str]:
    from tqdm.auto import tqdm

    candidates: list[Record] = []
    step = decoding.batch_size * 4  # a few length-sorted batches at a time, so progress moves
    with tqdm(total=len(passages), desc=f"eval: {label} writes instructions", unit="pair") as bar:
        for start in range(0, len(passages), step):
            chunk = passages[start : start + step]
            candidates.extend(model.generate(chunk, replace(decoding, num_candidates=1)))
            bar.update(len(chunk))
    got = [c.meta["passage_id"] for c in candidates]
    if got != [p.id for p in passages]:  # the metrics compare by position, so this must hold
        raise RuntimeError("backward model returned candidates out of order")
    return [c.instruction for c in candidates]


def _release(model: BackwardModel) -> None:
    model.close()


def _scores(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    return {
        "rouge_l": [rouge_l(p, r) for p, r in zip(predictions, references)],
        "cosine": default_embedder().cosine(predictions, references),
    }


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _manifest(model: str) -> dict[str, Any] | None:
    return read_manifest(model) if is_adapter(model) else None


def _baseline_spec(manifest: dict[str, Any] | None, baseline: str | None) -> str | None:
    """'auto': a train folder's base model; a base model has no baseline but itself."""
    if baseline != "auto":
        return baseline
    return manifest["base_model"] if manifest else None


def evaluate(
    model: str,
    heldout: str,
    fields: str | None = None,
    baseline: str | None = "auto",
    limit: int | None = None,
    decoding: Decoding | None = None,
    precision: str = "auto",
    examples: int = 5,
    max_response_tokens: int | None = 512,
    backend: str = "transformers",
    backend_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the instructions ``model`` writes for the responses of ``heldout`` against the human
    ones. ``baseline`` is another model run on the very same inputs: 'auto' is a train folder's
    base model prompted zero-shot, None is none. Responses longer than ``max_response_tokens``
    are cut, as training cuts them. Both models run on ``backend`` (with its ``backend_options``).
    Returns a JSON-able report."""
    started = time.perf_counter()
    decoding = decoding or DEFAULT_DECODING
    seed, pairs = heldout_pairs(heldout, fields, limit)
    manifest = _manifest(model)
    baseline_model = _baseline_spec(manifest, baseline)
    seconds: dict[str, float] = {}
    predictions: dict[str, list[str]] = {}
    passages: list[Record] = []
    for role, spec in (("model", model), ("baseline", baseline_model)):
        if spec is None:
            continue
        t = time.perf_counter()
        options = dict(backend_options or {})
        if role == "baseline" and options.get("lora_name"):
            options["lora_name"] = None  # a server's adapter is the trained model; the baseline is its base
        backward = BackwardModel(
            spec,
            template=BASELINE_TEMPLATE if role == "baseline" else None,
            precision=precision,
            backend=backend,
            **options,
        )
        # Cut once, with the first model's tokenizer, so both models see exactly the same text.
        passages = passages or _passages(pairs, backward.tokenizer, max_response_tokens)
        predictions[role] = _write_instructions(backward, passages, decoding, role)
        _release(backward)
        seconds[role] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    references = [p.instruction for p in pairs]
    scores = {role: _scores(preds, references) for role, preds in predictions.items()}
    seconds["metrics"] = round(time.perf_counter() - t, 2)
    means, ratio = _summary(scores, predictions)
    seconds["total"] = round(time.perf_counter() - started, 2)
    return {
        "model": model,
        "baseline_model": baseline_model,
        "heldout": {
            "source": heldout,
            "layout": seed.layout,
            "pairs": len(pairs),
            "truncated_responses": sum("truncated_tokens" in p.meta for p in passages),
            # scores on the pairs a model was trained on say nothing about new responses
            "is_training_seed": seed.fingerprint == ((manifest or {}).get("seed") or {}).get("fingerprint"),
        },
        "metrics": means,
        "ratio": ratio,
        "examples": [_example(i, pairs, predictions, scores) for i in range(min(examples, len(pairs)))],
        "decoding": {
            "greedy": decoding.greedy,
            "max_new_tokens": decoding.max_new_tokens,
            **(
                {}
                if decoding.greedy
                else {"temperature": decoding.temperature, "top_p": decoding.top_p, "seed": decoding.seed}
            ),
        },
        "backend": backend,
        "embedder": default_embedder().info,
        "seconds": seconds,
    }


def _summary(
    scores: dict[str, dict[str, list[float]]], predictions: dict[str, list[str]]
) -> tuple[dict[str, dict[str, float]], dict[str, float | None] | None]:
    """Mean score per model (and its count of empty instructions); model / baseline per metric."""
    means = {
        role: {**{m: _mean(s[m]) for m in METRICS}, "empty": sum(not p.strip() for p in predictions[role])}
        for role, s in scores.items()
    }
    if "baseline" not in means:
        return means, None
    return means, {
        m: round(means["model"][m] / means["baseline"][m], 4) if means["baseline"][m] else None for m in METRICS
    }


def _example(
    i: int, pairs: list[Record], predictions: dict[str, list[str]], scores: dict[str, dict[str, list[float]]]
) -> dict[str, Any]:
    row: dict[str, Any] = {"response": pairs[i].output, "human": pairs[i].instruction}
    if pairs[i].input:
        row["input"] = pairs[i].input
    for role, preds in predictions.items():
        row[role] = preds[i]
    row["scores"] = {role: {m: round(s[m][i], 4) for m in METRICS} for role, s in scores.items()}
    return row


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    write_json_atomic(path, report)
    return path

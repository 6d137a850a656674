"""Stage: LoRA fine-tuning through TRL's SFTTrainer, in either direction.

One code path fits both models of instruction backtranslation; the template's direction decides
what the prompt shows and what the loss covers:
- ``train``: the backward model. The prompt shows the response, the completion is the
  instruction (reverse templates), so the loss covers the instruction only.
- ``finetune``: the forward model. The prompt shows the instruction (Alpaca template), the
  completion is the response; generated pairs can be mixed with the seed and tagged as in Humpback.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import models
from .config import FinetuneConfig, TrainConfig, to_dict
from .errors import UserError
from .hardware import train_precision
from .io import write_json_atomic, write_text_atomic
from .models import MANIFEST
from .readers.seed import SeedSet, load_pairs, load_seed
from .records import Record
from .templates import GENERATED_TAG, SEED_TAG, Template, get_template

log = logging.getLogger(__name__)
# Tokens kept free for EOS and for BPE merges across the prompt/completion boundary.
_MARGIN = 4
# A reverse pair's context is cut down to leave the response at least this many tokens, but
# never below _MIN_CONTEXT tokens; " ..." marks the cut.
_MIN_RESPONSE = 32
_MIN_CONTEXT = 16
_CUT_MARK_TOKENS = 2


@dataclass
class TrainResult:
    output_dir: Path
    train_loss: float
    val_loss: float | None
    train_examples: int
    val_examples: int
    tokens_per_second: float
    runtime_s: float
    precision: str
    steps: int
    skipped: Counter = field(default_factory=Counter)
    eval: dict[str, Any] | None = None


def fit_to_length(record: Record, template: Template, tokenizer: Any, max_length: int) -> Record | None:
    """Cut the response so prompt + completion fit ``max_length``; the instruction is never cut.

    In both directions the response (``output``) is the long part: the backward model reads it
    in its prompt and plain right-truncation would remove the instruction target at the end; the
    forward model writes it, and a cut response still teaches the style of its start.
    A reverse template's context (a reply's parent message) is cut first where it would leave the
    response fewer than ``_MIN_RESPONSE`` tokens: skipping such pairs took every reply pair out of
    the demo's 128-token training, and its instructions for replies got the direction wrong.
    Returns None when the frame and instruction alone do not fit.
    """
    budget = _response_budget(record, template, tokenizer, max_length)
    if budget < _MIN_RESPONSE and record.input and template.direction == "reverse":
        record = _cut_context(record, template, tokenizer, max_length, _MIN_RESPONSE - budget)
        budget = _response_budget(record, template, tokenizer, max_length)
    if budget < 8:
        return None
    ids = tokenizer(record.output, add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return record
    cut = tokenizer.decode(ids[:budget], skip_special_tokens=True)
    return Record(
        output=cut,
        instruction=record.instruction,
        input=record.input,
        id=record.id,
        meta={**record.meta, "truncated_tokens": len(ids) - budget},
    )


def _response_budget(record: Record, template: Template, tokenizer: Any, max_length: int) -> int:
    empty = Record(output="", instruction=record.instruction, input=record.input, id=record.id, meta=record.meta)
    frame = len(tokenizer(_full_text(empty, template, tokenizer), add_special_tokens=False)["input_ids"])
    return max_length - frame - _MARGIN


def _cut_context(record: Record, template: Template, tokenizer: Any, max_length: int, short: int) -> Record:
    """The context's opening (what the reply answers), ``short`` tokens shorter plus room for the
    mark, but never under ``_MIN_CONTEXT`` tokens."""
    ids = tokenizer(record.input, add_special_tokens=False)["input_ids"]
    keep = max(len(ids) - short - _CUT_MARK_TOKENS, _MIN_CONTEXT)
    if keep >= len(ids):
        return record  # already this short: if the response has no room, the pair is skipped
    context = tokenizer.decode(ids[:keep], skip_special_tokens=True).rstrip() + " ..."
    return Record(
        output=record.output,
        instruction=record.instruction,
        input=context,
        id=record.id,
        meta={**record.meta, "context_truncated_tokens": len(ids) - keep},
    )


def tagged(pairs: list[Record], seed: list[Record], tags: bool) -> list[Record]:
    """Seed pairs and generated pairs for the forward model; with ``tags`` each gets Humpback's
    system line for its origin (only meaningful when both kinds are present)."""

    def copy(r: Record, origin: str, system: str | None) -> Record:
        return Record(
            output=r.output,
            instruction=r.instruction,
            input=r.input,
            id=r.id,
            meta={"origin": origin, **({"system": system} if system else {})},
        )

    return [copy(r, "seed", SEED_TAG if tags else None) for r in seed] + [
        copy(r, "generated", GENERATED_TAG if tags else None) for r in pairs
    ]


def _full_text(record: Record, template: Template, tokenizer: Any) -> str:
    prompt, completion = template.prompt(record), template.completion(record)
    if isinstance(prompt, str):
        return prompt + completion
    return tokenizer.apply_chat_template(prompt + completion, tokenize=False)


def build_examples(
    records: list[Record], template: Template, tokenizer: Any, max_length: int
) -> tuple[list[dict[str, Any]], Counter]:
    examples, skipped = [], Counter()
    # what did not fit: the target instruction (reverse), or the prompt to answer (forward)
    reason = (
        "instruction too long for max_length"
        if template.direction == "reverse"
        else "instruction and input too long for max_length"
    )
    for record in records:
        fitted = fit_to_length(record, template, tokenizer, max_length)
        if fitted is None:
            skipped[reason] += 1
            continue
        examples.append({"prompt": template.prompt(fitted), "completion": template.completion(fitted)})
    return examples, skipped


def split(items: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """Deterministic shuffle-split; at least one validation item when a fraction is asked for."""
    order = list(items)
    random.Random(seed).shuffle(order)
    n_val = 0 if val_fraction <= 0 or len(order) < 2 else max(1, round(len(order) * val_fraction))
    return order[n_val:], order[:n_val]


def _target_modules(spec: str) -> str | list[str]:
    return "all-linear" if spec.strip() == "all-linear" else [m.strip() for m in spec.split(",") if m.strip()]


def _targets(spec: str, count: int | None, model: Any) -> dict[str, Any]:
    """LoraConfig's target_modules, and layers_to_transform for the top ``count`` layers (none:
    every layer). Nothing below the lowest adapted layer needs a gradient, so backward stops there."""
    modules = _target_modules(spec)
    if count is None:
        return {"target_modules": modules}
    total = model.config.num_hidden_layers
    if count > total:
        raise UserError(f"lora_layers={count}, but the model has {total} layers.")
    if modules == "all-linear":  # peft takes layers_to_transform only with named modules
        import torch

        modules = sorted(
            {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
            - {"lm_head"}  # as all-linear leaves the output layer out
        )
    return {"target_modules": modules, "layers_to_transform": list(range(total - count, total))}


def _checkpoint(spec: str | None, folder: Path) -> str | bool | None:
    """'last' -> the newest checkpoint in folder (the Trainer finds it); a path must exist."""
    if not spec:
        return None
    if spec == "last":
        if not any(folder.glob("checkpoint-*")):
            raise UserError(f"No checkpoint to resume in {folder}; train without --resume-from-checkpoint first.")
        return True
    if not Path(spec).is_dir():
        raise UserError(f"Checkpoint folder {spec} does not exist.")
    return spec


def _checkpointing(enabled: bool, config_cls: type) -> dict[str, bool]:
    """Always explicit: TRL turns checkpointing on by default (~20-30% slower), and transformers
    5.2x renamed gradient_checkpointing to activation_checkpointing."""
    fields = getattr(config_cls, "__dataclass_fields__", {})
    return {"activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing": enabled}


def _length_grouping(enabled: bool, config_cls: type) -> dict[str, Any]:
    """transformers 5.2x replaced group_by_length with train_sampling_strategy."""
    fields = getattr(config_cls, "__dataclass_fields__", {})
    if "train_sampling_strategy" in fields:
        return {"train_sampling_strategy": "group_by_length" if enabled else "random"}
    return {"group_by_length": enabled}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("backtranslate", "torch", "transformers", "peft", "trl", "datasets"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def train(cfg: TrainConfig, seed: SeedSet | None = None) -> TrainResult:
    """The backward model: seed pairs turned around (response -> instruction)."""
    template = get_template(cfg.template)
    if template.direction != "reverse":
        raise UserError(
            f"train fits the backward model: use a reverse template (reverse or chat), not '{template.name}'; "
            "`backtranslate finetune` fits forward models."
        )
    seed = seed or load_seed(cfg.seed, cfg.fields)
    return fit(
        cfg,
        template,
        seed.records,
        seed.skipped,
        {"kind": "backward-lora", "seed": _describe(seed), "languages": seed_languages(seed.records)},
    )


def seed_languages(records: list[Record], min_share: float = 0.05) -> list[str]:
    """The languages the backward model learnt to write instructions for: those of at least
    ``min_share`` of the seed's responses. `generate --languages auto` keeps passages in these."""
    from .filters.language import detect

    mix = Counter(detect(r.output)[0] for r in records)
    return sorted(code for code, n in mix.items() if n >= min_share * len(records))


def finetune(cfg: FinetuneConfig, pairs: SeedSet | None = None, seed: SeedSet | None = None) -> TrainResult:
    """The forward model: Alpaca pairs (instruction -> response), optionally mixed with the seed."""
    template = get_template(cfg.template)
    if template.direction != "forward":
        raise UserError(
            f"finetune fits a forward model: use a forward template (alpaca or chat-forward), "
            f"not '{template.name}'; `backtranslate train` fits the backward model."
        )
    pairs = pairs or load_pairs(cfg.dataset, cfg.dataset_fields)
    if seed is None and cfg.seed != "none":
        seed = load_seed(cfg.seed, cfg.fields)
    tags = cfg.tags and seed is not None  # a tag tells two kinds apart; with one kind it says nothing
    records = tagged(pairs.records, seed.records if seed else [], tags)
    return fit(
        cfg,
        template,
        records,
        pairs.skipped + (seed.skipped if seed else Counter()),
        {
            "kind": "forward-lora",
            "dataset": _describe(pairs),
            "seed": _describe(seed) if seed else None,
            "tags": {"seed": SEED_TAG, "generated": GENERATED_TAG} if tags else None,
            # the system line to prompt this model with: the seed tag asks for the assistant's style
            "system": SEED_TAG if tags else None,
        },
    )


def _describe(data: SeedSet) -> dict[str, Any]:
    return {
        "source": data.source,
        "layout": data.layout,
        "size": len(data.records),
        "fingerprint": data.fingerprint,
        "skipped": dict(data.skipped),
    }


@contextmanager
def score_labelled_positions_only() -> Iterator[bool]:
    """Let TRL's fused LM head score only the positions that carry a label, on CPUs too.

    TRL does so on CUDA and XPU (Triton) and scores every position elsewhere, because on Neuron a
    batch-dependent row count recompiles the graph. Eager CPU training recompiles nothing, and here
    the unlabelled positions are most of each example: the backward model's prompt is the whole
    passage, its label a short instruction. On the demo's seed this trained 1.36x faster with the
    same losses to the last digit (benchmarks/train_throughput.py). Yields whether it applied: a TRL
    without the hook trains as before, only slower.
    """
    try:
        from trl.trainer import utils as trl_utils

        original = trl_utils._use_triton
    except (ImportError, AttributeError):
        yield False
        return
    trl_utils._use_triton = lambda device: original(device) or device.type == "cpu"
    try:
        yield True
    finally:
        trl_utils._use_triton = original


def fit(
    cfg: TrainConfig, template: Template, records: list[Record], skipped: Counter, about: dict[str, Any]
) -> TrainResult:
    """LoRA fine-tuning on ``records`` as ``template`` frames them; writes the adapter, the
    tokenizer and the manifest (``about`` says what the data was) into ``cfg.output_dir``."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from .fused_lora import fused_lora

    precision = train_precision(cfg.precision)
    on_gpu = torch.cuda.is_available()
    # On GPUs the frozen base is stored in half precision; on CPUs it stays fp32 and bf16 runs as
    # autocast, which measured faster here than bf16 weights with fp32 adapters.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32) if on_gpu else torch.float32
    model, tokenizer = models.load(cfg.model, dtype=dtype)
    # Pairs held out for the end-of-training evaluation never reach the trainer, not even as validation.
    train_records, eval_records = split(records, cfg.eval_fraction, cfg.random_seed)
    examples, too_long = build_examples(train_records, template, tokenizer, cfg.max_length)
    if not examples:
        raise UserError(f"No pair fits max_length={cfg.max_length}; raise --max-length.")
    train_rows, val_rows = split(examples, cfg.val_fraction, cfg.random_seed)

    out = Path(cfg.output_dir)
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=cfg.max_length,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not on_gpu,
        **_checkpointing(cfg.gradient_checkpointing, SFTConfig),
        **_length_grouping(cfg.group_by_length, SFTConfig),
        eval_strategy="epoch" if val_rows else "no",
        save_strategy="steps" if cfg.checkpoint_steps else "epoch",
        save_steps=cfg.checkpoint_steps or 500,
        save_total_limit=2,
        logging_steps=cfg.logging_steps,
        report_to="none",
        seed=cfg.random_seed,
        data_seed=cfg.random_seed,
        include_num_input_tokens_seen="non_padding",
        completion_only_loss=True,
    )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        task_type="CAUSAL_LM",
        **_targets(cfg.lora_target_modules, cfg.lora_layers, model),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        peft_config=lora,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
    )
    started = time.perf_counter()
    # fp32 on a CPU only: under bf16 autocast, or on a GPU, peft's own path is the fast one.
    with score_labelled_positions_only(), fused_lora(trainer.model, enabled=precision == "fp32" and not on_gpu):
        output = trainer.train(resume_from_checkpoint=_checkpoint(cfg.resume_from_checkpoint, out / "checkpoints"))
        runtime = time.perf_counter() - started
        val_loss = _final_val_loss(trainer) if val_rows else None
    tokens = trainer.state.num_input_tokens_seen
    result = TrainResult(
        output_dir=out,
        train_loss=float(output.training_loss),
        val_loss=float(val_loss) if val_loss is not None else None,
        train_examples=len(train_rows),
        val_examples=len(val_rows),
        tokens_per_second=tokens / runtime if runtime else 0.0,
        runtime_s=runtime,
        precision=precision,
        steps=trainer.state.global_step,
        skipped=too_long + skipped,
    )
    if trainer.is_world_process_zero():
        trainer.save_model(str(out))
        tokenizer.save_pretrained(str(out))
        record = manifest(cfg, about, result, trainer)
        write_json_atomic(out / MANIFEST, record)
        if eval_records:
            record["eval"] = _evaluate_heldout(out, eval_records, cfg.precision)
            result.eval = record["eval"]
            write_json_atomic(out / MANIFEST, record)
    return result


def _final_val_loss(trainer: Any) -> float:
    """The validation loss after the last step: the epoch-end evaluation's, when it ran at that step
    (it always does when training ends on an epoch), else one more evaluation. On a CPU without
    bf16 a second pass over the demo's 53 validation pairs cost 29 s of its 10 minutes."""
    step = trainer.state.global_step
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry and entry.get("step") == step:
            return entry["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _evaluate_heldout(out: Path, records: list[Record], precision: str) -> dict[str, Any]:
    """The `eval` command on the held-out seed pairs: the saved adapter against its base, zero-shot."""
    from .evaluate import evaluate, write_report

    heldout = out / "heldout.jsonl"
    write_text_atomic(heldout, "".join(json.dumps(r.to_alpaca(), ensure_ascii=False) + "\n" for r in records))
    report = evaluate(str(out), str(heldout), baseline="auto", precision=precision)
    write_report(report, out / "eval.json")
    return {
        "pairs": report["heldout"]["pairs"],
        "metrics": report["metrics"],
        "ratio": report["ratio"],
        "report": "eval.json",
    }


def manifest(cfg: TrainConfig, about: dict[str, Any], result: TrainResult, trainer: Any) -> dict[str, Any]:
    """What made this adapter: enough to load it again and to tell two runs apart. ``about``
    holds the kind (backward-lora / forward-lora) and what the training data was."""
    return {
        "kind": about["kind"],
        "base_model": cfg.model,
        "template": cfg.template,
        **{k: v for k, v in about.items() if k != "kind"},
        "config": to_dict(cfg),
        "precision": result.precision,
        "examples": {"train": result.train_examples, "val": result.val_examples, "skipped": dict(result.skipped)},
        "losses": {
            "train": result.train_loss,
            "val": result.val_loss,
            "history": [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h],
        },
        "throughput": {
            "tokens_per_second": round(result.tokens_per_second, 1),
            "runtime_s": round(result.runtime_s, 1),
            "tokens": trainer.state.num_input_tokens_seen,
        },
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

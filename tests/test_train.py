import json

import pytest
import torch
from safetensors.torch import load_file

from backtranslate.config import TrainConfig
from backtranslate.errors import UserError
from backtranslate.readers.seed import load_seed
from backtranslate.records import Record
from backtranslate.templates import get_template
from backtranslate.testing import loss_text
from backtranslate.train import build_examples, fit_to_length, split, train


def _cfg(tiny_model_dir, tmp_path, **kw):
    base = dict(
        model=str(tiny_model_dir),
        output_dir=str(tmp_path / "out"),
        epochs=1,
        max_steps=3,
        batch_size=4,
        max_length=320,
        learning_rate=1e-2,
        logging_steps=1,
        precision="fp32",
    )
    return TrainConfig(**{**base, **kw})


def test_train_changes_the_adapter_not_the_base(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_before = {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict().items()}
    result = train(_cfg(tiny_model_dir, tmp_path))
    out = tmp_path / "out"

    adapter = load_file(out / "adapter_model.safetensors")
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero; training moved it

    base_after = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out)
    assert merged.peft_config["default"].r == 16

    manifest = json.loads((out / "backtranslate.json").read_text())
    assert manifest["base_model"] == str(tiny_model_dir) and manifest["template"] == "reverse"
    assert manifest["seed"]["size"] >= 150 and len(manifest["seed"]["fingerprint"]) == 16
    assert manifest["config"]["lora_r"] == 16 and "transformers" in manifest["versions"]
    assert manifest["losses"]["train"] == pytest.approx(result.train_loss)
    assert manifest["losses"]["val"] is not None and result.val_examples > 0
    assert (out / "tokenizer_config.json").exists()


def test_lora_layers_adapts_only_the_top_layers(tiny_model_dir, tmp_path):
    import re

    from transformers import AutoConfig

    total = AutoConfig.from_pretrained(tiny_model_dir).num_hidden_layers
    train(_cfg(tiny_model_dir, tmp_path, lora_layers=1))
    adapter = load_file(tmp_path / "out" / "adapter_model.safetensors")
    layers = {int(m.group(1)) for k in adapter for m in [re.search(r"\.layers\.(\d+)\.", k)] if m}
    assert layers == {total - 1}  # the top layer only; backward stopped below it
    with pytest.raises(UserError, match="layers"):
        train(_cfg(tiny_model_dir, tmp_path / "too-many", lora_layers=total + 1))


def test_loss_covers_the_instruction_only(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    record = Record(output="The meeting moved to Tuesday.", instruction="Tell the team the meeting moved.")
    examples, _ = build_examples([record], get_template("reverse"), tok, 128)
    assert loss_text(tiny_model_dir, examples, tmp_path) == "Tell the team the meeting moved.<|im_end|>"


def test_long_responses_are_cut_so_the_instruction_always_fits(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = get_template("reverse")
    long = Record(output="word " * 2000, instruction="Repeat the word many times.")
    fitted = fit_to_length(long, template, tok, 200)
    full = template.prompt(fitted) + template.completion(fitted)
    assert len(tok(full)["input_ids"]) <= 200 - 1  # room left for EOS
    assert full.endswith("Repeat the word many times.") and fitted.meta["truncated_tokens"] > 0
    too_long = Record(output="x", instruction="long instruction " * 200)
    examples, skipped = build_examples([too_long], template, tok, 64)
    assert examples == [] and skipped["instruction too long for max_length"] == 1


def test_a_long_context_is_cut_before_a_reply_pair_is_skipped(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = get_template("reverse")
    reply = Record(
        output="Yes, the tunnel drops too, but only for ten minutes while each gateway reboots. " * 4,
        instruction="Reply to the analyst's question: tell them the tunnel goes down and when.",
        input="Will the site-to-site tunnel also be down during the VPN upgrade on Saturday? " * 8,
    )
    fitted = fit_to_length(reply, template, tok, 256)
    assert fitted is not None and fitted.input.endswith(" ...") and fitted.meta["context_truncated_tokens"] > 0
    full = template.prompt(fitted) + template.completion(fitted)
    assert len(tok(full)["input_ids"]) <= 256 - 1
    assert full.endswith(reply.instruction) and fitted.input.startswith("Will the site-to-site tunnel")
    response = fitted.output
    assert len(tok(response, add_special_tokens=False)["input_ids"]) >= 24  # the reply itself still has room
    short = Record(output=reply.output, instruction=reply.instruction, input="Is the tunnel down too?")
    assert fit_to_length(short, template, tok, 256).input == short.input  # nothing to cut when it fits


def test_scoring_only_labelled_positions_changes_no_loss(tiny_model_dir, tmp_path, monkeypatch):
    from contextlib import nullcontext

    from trl.trainer import utils as trl_utils

    import backtranslate.train as train_module

    cpu = torch.device("cpu")
    with train_module.score_labelled_positions_only() as applied:
        assert applied and trl_utils._use_triton(cpu)  # TRL's fused head now compacts on the CPU
    assert not trl_utils._use_triton(cpu)  # and is left as it was
    small = dict(max_steps=2, batch_size=2, max_length=160)
    fast = train(_cfg(tiny_model_dir, tmp_path / "labelled", **small))
    monkeypatch.setattr(train_module, "score_labelled_positions_only", nullcontext)
    every = train(_cfg(tiny_model_dir, tmp_path / "every", **small))
    assert fast.train_loss == pytest.approx(every.train_loss, rel=1e-5)
    assert fast.val_loss == pytest.approx(every.val_loss, rel=1e-5)


def test_split_is_deterministic_and_keeps_a_validation_item():
    items = list(range(20))
    assert split(items, 0.1, 1) == split(items, 0.1, 1)
    train_part, val_part = split(items, 0.1, 1)
    assert len(val_part) == 2 and sorted(train_part + val_part) == items
    assert split([1, 2, 3], 0.01, 0)[1] != [] and split(items, 0, 0)[1] == []


def test_forward_templates_are_refused_for_the_backward_model(tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="use a reverse template"):
        train(_cfg(tiny_model_dir, tmp_path, template="alpaca"))


def test_chat_template_training_runs(tiny_model_dir, tmp_path):
    seed = load_seed("default")
    seed.records = seed.records[:12]
    result = train(_cfg(tiny_model_dir, tmp_path, template="chat", max_steps=2, val_fraction=0.25), seed=seed)
    assert result.train_examples == 9 and result.val_examples == 3
    assert (tmp_path / "out" / "adapter_model.safetensors").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_training_runs_in_bf16(tiny_model_dir, tmp_path):
    result = train(_cfg(tiny_model_dir, tmp_path, precision="auto"))
    assert result.precision == "bf16" and result.train_loss > 0


def test_checkpointing_is_off_unless_asked(tiny_model_dir, tmp_path):
    # TRL's SFTConfig turns activation checkpointing on by default, which costs ~25% speed on
    # a model that fits in memory; our config's False must reach the trainer.
    from trl import SFTConfig

    from backtranslate.train import _checkpointing

    assert (
        SFTConfig(output_dir=str(tmp_path), use_cpu=True, **_checkpointing(False, SFTConfig)).gradient_checkpointing
        is False
    )
    assert (
        SFTConfig(output_dir=str(tmp_path), use_cpu=True, **_checkpointing(True, SFTConfig)).gradient_checkpointing
        is True
    )


def test_checkpoints_and_resume_from_checkpoint(tiny_model_dir, tmp_path):
    first = train(_cfg(tiny_model_dir, tmp_path, max_steps=2, checkpoint_steps=1, val_fraction=0))
    checkpoints = sorted(p.name for p in (tmp_path / "out" / "checkpoints").glob("checkpoint-*"))
    assert first.steps == 2 and checkpoints == ["checkpoint-1", "checkpoint-2"]
    resumed = train(
        _cfg(tiny_model_dir, tmp_path, max_steps=4, checkpoint_steps=1, val_fraction=0, resume_from_checkpoint="last")
    )
    assert resumed.steps == 4  # continued from step 2, not from scratch
    history = json.loads((tmp_path / "out" / "backtranslate.json").read_text())["losses"]["history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4]


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="No checkpoint to resume"):
        train(_cfg(tiny_model_dir, tmp_path, resume_from_checkpoint="last"))


def test_data_parallel_training_over_two_processes(tiny_model_dir, tmp_path):
    # torchrun is what `accelerate launch --multi_gpu` runs underneath; on CPUs it uses gloo.
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "backtranslate.cli",
        "train",
        "--model",
        str(tiny_model_dir),
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--max-length",
        "320",
        "--precision",
        "fp32",
        "--val-fraction",
        "0",
        "--logging-steps",
        "1",
    ]
    # On the CPU (gloo) everywhere: DDP wants one GPU per process, and a test machine may have one.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("train summary") == 1  # rank 0 speaks for both
    manifest = json.loads((out / "backtranslate.json").read_text())
    # each step consumed batch 4 x 2 processes = 8 pairs, so an epoch is ceil(train / 8) steps
    # (one process alone would need ceil(train / 4))
    import math

    steps_per_epoch = math.ceil(manifest["examples"]["train"] / 8)
    assert manifest["losses"]["history"][-1]["epoch"] == pytest.approx(2 / steps_per_epoch)


def test_eval_fraction_holds_pairs_out_and_evaluates_them(tiny_model_dir, tmp_path):
    seed = load_seed("default")
    seed.records = seed.records[:20]
    result = train(_cfg(tiny_model_dir, tmp_path, max_steps=1, eval_fraction=0.2, val_fraction=0.25), seed=seed)
    out = tmp_path / "out"
    heldout = [json.loads(line) for line in (out / "heldout.jsonl").read_text().splitlines()]
    assert len(heldout) == 4 and result.train_examples + result.val_examples + result.skipped.total() == 16
    manifest = json.loads((out / "backtranslate.json").read_text())
    assert manifest["eval"]["pairs"] == 4 and set(manifest["eval"]["metrics"]) == {"model", "baseline"}
    assert json.loads((out / "eval.json").read_text())["heldout"]["pairs"] == 4


def test_auto_training_precision_on_a_cpu_follows_the_measured_bf16_speed():
    import torch

    from backtranslate.hardware import BF16_TRAIN_MARGIN, cpu_bf16_speedup, cpu_supports_bf16, train_precision

    if torch.cuda.is_available():
        pytest.skip("on a GPU auto is bf16/fp16 without measuring")
    speedup = cpu_bf16_speedup()
    assert speedup > 0
    faster = cpu_supports_bf16() and speedup >= BF16_TRAIN_MARGIN
    assert train_precision("auto") == ("bf16" if faster else "fp32")
    assert train_precision("fp32") == "fp32"  # an explicit choice is never second-guessed

"""Tiny real models for offline tests and for smoke runs of the benchmarks (``--tiny``): a BPE
tokenizer trained on the shipped seed and a 2-layer Llama with hidden size 16, saved as an
ordinary Hugging Face folder. Seconds to build, no download, and every code path a real model
takes (tokenizer, chat template, LoRA, generation) runs on it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _seed_texts() -> list[str]:
    path = resources.files("backtranslate") / "data" / "seed.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r[k] for r in rows for k in ("instruction", "input", "output") if r[k]]


def build_tiny_model(folder: str | Path) -> Path:
    """Write the tiny model and its tokenizer into ``folder`` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(_seed_texts() + ["### Instruction:\n### Input:\n### Response:\n"], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def loss_text(model_dir: str | Path, examples: list[dict], out: str | Path) -> str:
    """The text of the first example that TRL's SFTTrainer computes the loss on (the tokens whose
    label is not -100), with completion-only loss as `train` and `finetune` configure it."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        processing_class=tokenizer,
        args=SFTConfig(output_dir=str(out), report_to="none", use_cpu=True, completion_only_loss=True),
        train_dataset=Dataset.from_list(examples),
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    return tokenizer.decode([t for t, label in zip(ids, labels) if label != -100])

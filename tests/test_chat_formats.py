"""Chat layouts beside Alpaca: sharegpt.json and messages.jsonl each load with `datasets` and
train one real TRL SFTTrainer step on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backtranslate.config import GenerateConfig
from backtranslate.formats import messages, sharegpt
from backtranslate.generate import generate

EMAILS = Path(__file__).resolve().parents[1] / "corpora" / "emails"


@pytest.fixture(scope="module")
def dataset(tiny_adapter, tmp_path_factory) -> Path:
    """Thread mode on the sample mail, so that some records carry the message they answer as input."""
    out = tmp_path_factory.mktemp("chat") / "ds"
    generate(
        GenerateConfig(
            corpus=str(EMAILS),
            out=str(out),
            model=str(tiny_adapter),
            greedy=True,
            max_new_tokens=6,
            precision="fp32",
            filter=False,
            max_passages=6,
            email_mode="thread",
            format="alpaca,sharegpt,messages",
        )
    )
    return out


def test_a_reply_becomes_a_user_turn_with_the_message_it_answers():
    row = {
        "instruction": "Reply accepting the meeting.",
        "input": "Subject: Meeting\n\nCan you come?",
        "output": "Yes.",
    }
    assert messages(row) == {
        "messages": [
            {"role": "user", "content": "Reply accepting the meeting.\n\nSubject: Meeting\n\nCan you come?"},
            {"role": "assistant", "content": "Yes."},
        ]
    }
    assert sharegpt({**row, "input": ""}) == {
        "conversations": [{"from": "human", "value": "Reply accepting the meeting."}, {"from": "gpt", "value": "Yes."}]
    }


def test_the_chat_files_hold_the_same_records_as_data_json(dataset):
    alpaca = json.loads((dataset / "data.json").read_text())
    shared = json.loads((dataset / "sharegpt.json").read_text())
    lines = [json.loads(line) for line in (dataset / "messages.jsonl").read_text().splitlines()]
    assert len(alpaca) == len(shared) == len(lines) == 6
    assert (
        [s["conversations"][-1]["value"] for s in shared]  # a reply's thread comes before it as turns
        == [m["messages"][-1]["content"] for m in lines]
        == [a["output"] for a in alpaca]
    )
    assert any(a["input"] and a["input"] in m["messages"][0]["content"] for a, m in zip(alpaca, lines))
    assert {"sharegpt.json", "messages.jsonl"} <= set(json.loads((dataset / "stats.json").read_text())["files"])


@pytest.mark.parametrize("file", ["sharegpt.json", "messages.jsonl"])
def test_each_layout_trains_one_sft_step(dataset, tiny_model_dir, tmp_path, file):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = load_dataset("json", data_files=str(dataset / file), split="train")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        processing_class=tok,
        train_dataset=ds,
        args=SFTConfig(
            output_dir=str(tmp_path / "sft"),
            max_steps=1,
            report_to="none",
            use_cpu=True,
            max_length=1024,  # a reply's user turn holds the message it answers
            per_device_train_batch_size=2,
        ),
    )
    # TRL took the file as a conversation and rendered it through the tokenizer's chat template
    # (ShareGPT's from/value it renames to role/content; the roles stay human and gpt).
    # (A reply's thread comes before it as turns and may fill max_length: read the shortest row.)
    rendered = tok.decode(min((row["input_ids"] for row in trainer.train_dataset), key=len))
    user, assistant = ("human", "gpt") if file == "sharegpt.json" else ("user", "assistant")
    assert f"<|im_start|>{user}\n" in rendered and f"<|im_start|>{assistant}\n" in rendered
    assert trainer.train().global_step == 1

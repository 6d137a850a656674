"""--format dpo / kto: preference pairs from a real (tiny-model) run with several candidates per
passage, one TRL DPOTrainer step on them, and rewrite-vs-passage pairs from a folder's records."""

import json

from backtranslate.formats import write_formats
from backtranslate.generate import generate
from backtranslate.preferences import count_pairs
from tests.test_generate import _cfg


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dpo_and_kto_from_rejected_candidates_train_one_dpo_step(tiny_adapter, tiny_model_dir, tmp_path):
    generate(
        _cfg(
            tiny_adapter,
            tmp_path,
            greedy=False,
            num_candidates=3,
            max_passages=12,
            max_new_tokens=48,
            relevance=False,
            format="dpo,kto",
        )
    )
    out = tmp_path / "ds"
    kept = {r["meta"]["passage_id"]: r for r in _rows(out / "data.jsonl")}
    rejected = [r for r in _rows(out / "rejected.jsonl") if r["stage"] == "pair"]
    pairs = _rows(out / "dpo" / "instructions.jsonl")
    assert pairs, "three sampled candidates per passage leave rejected ones"
    # every pair: a kept instruction over a rejected one of the same passage, under its reverse prompt
    for p in pairs:
        assert p["prompt"].startswith("### Instruction:\n") and p["prompt"].endswith("### Response:\n")
        owner = next(r for r in kept.values() if r["instruction"] == p["chosen"] and r["output"] in p["prompt"])
        assert any(
            r["instruction"] == p["rejected"] and r["meta"]["passage_id"] == owner["meta"]["passage_id"]
            for r in rejected
        )
        assert p["chosen"] != p["rejected"]
    assert count_pairs(out)["instructions"] == len(pairs)
    kto = _rows(out / "kto" / "instructions.jsonl")
    assert {r["label"] for r in kto} == {True, False}
    assert sum(not r["label"] for r in kto) == len(pairs)
    assert _rows(out / "dpo" / "rewrites.jsonl") == [] and json.loads((out / "dpo" / "ranking.json").read_text()) == []

    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    data = load_dataset("json", data_files=str(out / "dpo" / "instructions.jsonl"), split="train")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo-run"), max_steps=1, per_device_train_batch_size=2, report_to=[], use_cpu=True
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def test_rewrite_pairs_prefer_the_faithful_rewrite_over_the_passage(tmp_path):
    rows = [
        {
            "instruction": "When is the VPN maintenance?",
            "input": "",
            "output": "The VPN maintenance is on Saturday from 08:00 to 11:00.",
            "id": "a",
            "meta": {
                "rewrite": {
                    "text": "The VPN maintenance is on Saturday from 08:00 to 11:00.",
                    "original": "VPN work Sat 08:00-11:00.",
                    "kept": True,
                }
            },
        },
        {
            "instruction": "Summarize it.",
            "input": "",
            "output": "Raw passage.",
            "id": "b",
            "meta": {"rewrite": {"text": "Invented.", "original": "Raw passage.", "kept": False}},
        },
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_formats(tmp_path, ["dpo"])
    assert _rows(tmp_path / "dpo" / "rewrites.jsonl") == [
        {
            "prompt": "When is the VPN maintenance?",
            "chosen": "The VPN maintenance is on Saturday from 08:00 to 11:00.",
            "rejected": "VPN work Sat 08:00-11:00.",
        }
    ]
    ranking = json.loads((tmp_path / "dpo" / "ranking.json").read_text())
    assert ranking == [
        {
            "instruction": "When is the VPN maintenance?",
            "input": "",
            "chosen": "The VPN maintenance is on Saturday from 08:00 to 11:00.",
            "rejected": "VPN work Sat 08:00-11:00.",
        }
    ]


def test_dataset_info_names_every_file_with_llamafactory_columns(tmp_path):
    row = {"instruction": "Say hi.", "input": "", "output": "Hi!", "id": "a", "meta": {}}
    folder = tmp_path / "my-run"
    folder.mkdir()
    (folder / "data.jsonl").write_text(json.dumps(row) + "\n")
    write_formats(folder, ["sharegpt", "messages", "dpo"])
    info = json.loads((folder / "dataset_info.json").read_text())
    assert set(info) == {"my_run", "my_run_sharegpt", "my_run_messages", "my_run_dpo_rewrites"}
    # Field by field as LLaMA-Factory's data/README.md documents them: each file exists, and
    # each column it names is a key of the file's rows (or of the turns, for sharegpt tags).
    for entry in info.values():
        path = folder / entry["file_name"]
        assert path.exists() and entry["formatting"] in ("alpaca", "sharegpt")
        text = path.read_text()
        rows = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]
        for row in rows:
            assert set(entry["columns"].values()) <= set(row)
            if entry["formatting"] == "sharegpt":
                turns = row[entry["columns"]["messages"]]
                tags = entry["tags"]
                assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
                assert all(tags["content_tag"] in t for t in turns)
    assert info["my_run_dpo_rewrites"]["ranking"] is True


def test_system_tags_become_a_system_column_that_dataset_info_names(tiny_adapter, tmp_path):
    from backtranslate.templates import GENERATED_TAG

    generate(_cfg(tiny_adapter, tmp_path, filter=False, max_passages=4, system_tags=True, format="sharegpt"))
    out = tmp_path / "ds"
    data = json.loads((out / "data.json").read_text())
    sharegpt = json.loads((out / "sharegpt.json").read_text())
    assert data and all(r["system"] == GENERATED_TAG for r in data + sharegpt)
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["ds"]["columns"]["system"] == "system" and info["ds_sharegpt"]["columns"]["system"] == "system"
    plain = tmp_path / "plain"
    generate(_cfg(tiny_adapter, plain, filter=False, max_passages=4))
    assert "system" not in json.loads((plain / "ds" / "data.json").read_text())[0]

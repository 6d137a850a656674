"""--format dpo / kto: preference pairs from a real (tiny-model) run with several candidates per
passage, one TRL DPOTrainer step on them, and rewrite-vs-passage pairs from a folder's records."""

import json
from pathlib import Path

from backtranslate.formats import write_formats
from backtranslate.generate import generate
from backtranslate.preferences import count_pairs
from tests.test_generate import _cfg


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_k2_writes_consistent_dpo_kto_and_sharegpt_that_train_a_dpo_and_a_kto_step(
    lively_adapter, tiny_model_dir, tmp_path
):
    # The lively model ends its generations early (extra EOS tokens), so some candidates pass the
    # filters whatever a short training run happened to teach the tiny adapter.
    generate(
        _cfg(
            lively_adapter,
            tmp_path,
            greedy=False,
            num_candidates=2,
            max_passages=12,
            max_new_tokens=48,
            relevance=False,
            format="dpo,kto,sharegpt",
        )
    )
    out = tmp_path / "ds"
    kept = {r["meta"]["passage_id"]: r for r in _rows(out / "data.jsonl")}
    rejected = [r for r in _rows(out / "rejected.jsonl") if r["stage"] == "pair"]
    pairs = _rows(out / "dpo" / "instructions.jsonl")
    assert pairs, "two sampled candidates per passage leave rejected ones"
    # every pair: a kept instruction over a rejected one of the same passage, under its reverse prompt
    for p in pairs:
        assert p["prompt"].startswith("### Instruction:\n") and p["prompt"].endswith("### Response:\n")
        owner = next(r for r in kept.values() if r["instruction"] == p["chosen"] and r["output"] in p["prompt"])
        loser = next(
            r
            for r in rejected
            if r["instruction"] == p["rejected"] and r["meta"]["passage_id"] == owner["meta"]["passage_id"]
        )
        assert p["chosen"] != p["rejected"] and p["rejected_reason"] == loser["reason"]
    ranking = json.loads((out / "dpo" / "instructions_ranking.json").read_text())
    assert [(r["chosen"], r["rejected"]) for r in ranking] == [(p["chosen"], p["rejected"]) for p in pairs]
    kto = _rows(out / "kto" / "instructions.jsonl")
    tagged = json.loads((out / "kto" / "instructions_kto_tag.json").read_text())
    assert [(r["completion"], r["label"]) for r in kto] == [(r["output"], r["kto_tag"]) for r in tagged]
    assert sum(not r["label"] for r in kto) == len(pairs) and {r["completion"] for r in kto if r["label"]} == {
        p["chosen"] for p in pairs
    }
    assert len(json.loads((out / "sharegpt.json").read_text())) == len(kept)
    # stats.json and the card count the pairs; dataset_info names every file that holds rows
    stats = json.loads((out / "stats.json").read_text())
    prefs = stats["preferences"]
    assert prefs["instruction_pairs"] == len(pairs) and prefs["passages"] == stats["passages"]["kept"]
    assert prefs["instruction_pairs_per_100_passages"] == round(100 * len(pairs) / prefs["passages"], 1)
    assert (
        f"{len(pairs)} instruction pairs, {prefs['instruction_pairs_per_100_passages']} per 100"
        in (out / "README.md").read_text()
    )
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"ds", "ds_sharegpt", "ds_dpo_instructions", "ds_kto_instructions"}

    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = load_dataset("json", data_files=str(out / "dpo" / "instructions.jsonl"), split="train")
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo-run"), max_steps=1, per_device_train_batch_size=2, report_to=[], use_cpu=True
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    result = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer).train()
    assert result.global_step == 1 and result.training_loss > 0
    data = load_dataset("json", data_files=str(out / "kto" / "instructions.jsonl"), split="train")
    args = KTOConfig(
        output_dir=str(tmp_path / "kto-run"), max_steps=1, per_device_train_batch_size=4, report_to=[], use_cpu=True
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    result = KTOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer).train()
    assert result.global_step == 1


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
    ranking = json.loads((tmp_path / "dpo" / "rewrites_ranking.json").read_text())
    assert ranking == [
        {
            "instruction": "When is the VPN maintenance?",
            "input": "",
            "chosen": "The VPN maintenance is on Saturday from 08:00 to 11:00.",
            "rejected": "VPN work Sat 08:00-11:00.",
        }
    ]


PASSAGE = "The office closes at 17:00 on Friday."
REASON_1 = "best_of_k: candidate 0 of this passage scored higher (0.52 > 0.35)"
REASON_2 = "relevance: 0.10 < 0.20"


def _folder(path, template="reverse", kept_meta=None, data=None):
    """A dataset folder as generate leaves it: kept pairs, rejected candidates, run.json."""
    path.mkdir()
    kept = {
        "instruction": "Summarize the memo.",
        "input": "",
        "output": PASSAGE,
        "id": "k1",
        "meta": {"passage_id": "p1", "candidate": 0, **(kept_meta or {})},
    }
    alone = {"instruction": "Say hi.", "input": "", "output": "Hi!", "id": "k2", "meta": {"passage_id": "p2"}}
    rejected = [
        ("What is it?", "p1", "pair", REASON_1),
        ("What is it?", "p1", "pair", REASON_1),  # the same instruction twice: one pair
        ("Summarize the memo.", "p1", "pair", REASON_1),  # the kept instruction again: no pair
        ("Write a poem.", "p1", "curate", "curate_rubric: 1.0 < 3.0"),  # not a candidate of the run
        ("List the office hours.", "p1", "pair", REASON_2),
        ("Greet.", "p3", "pair", REASON_2),  # a passage that kept nothing
    ]
    rows = [
        {"instruction": i, "input": "", "output": PASSAGE, "id": f"r{n}", "meta": {"passage_id": pid}, "stage": stage}
        | {"reason": reason}
        for n, (i, pid, stage, reason) in enumerate(rejected)
    ]
    (path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data or [kept, alone]))
    (path / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "run.json").write_text(json.dumps({"settings": {"template": template}}))
    return path


def test_instruction_pairs_in_trl_llamafactory_and_kto_layouts_row_by_row(tmp_path):
    from backtranslate.templates import REVERSE_TASK

    out = _folder(tmp_path / "my-run")
    write_formats(out, ["dpo", "kto"])
    prompt = f"### Instruction:\n{REVERSE_TASK}\n\n### Input:\n{PASSAGE}\n\n### Response:\n"
    assert _rows(out / "dpo" / "instructions.jsonl") == [
        {"prompt": prompt, "chosen": "Summarize the memo.", "rejected": "What is it?", "rejected_reason": REASON_1},
        {
            "prompt": prompt,
            "chosen": "Summarize the memo.",
            "rejected": "List the office hours.",
            "rejected_reason": REASON_2,
        },
    ]
    request = f"{REVERSE_TASK}\n\nInput:\n{PASSAGE}"  # LLaMA-Factory wraps it in its own chat template
    assert json.loads((out / "dpo" / "instructions_ranking.json").read_text()) == [
        {"instruction": request, "input": "", "chosen": "Summarize the memo.", "rejected": "What is it?"},
        {"instruction": request, "input": "", "chosen": "Summarize the memo.", "rejected": "List the office hours."},
    ]
    assert _rows(out / "kto" / "instructions.jsonl") == [
        {"prompt": prompt, "completion": "Summarize the memo.", "label": True},
        {"prompt": prompt, "completion": "What is it?", "label": False},
        {"prompt": prompt, "completion": "List the office hours.", "label": False},
    ]
    assert json.loads((out / "kto" / "instructions_kto_tag.json").read_text()) == [
        {"instruction": request, "input": "", "output": "Summarize the memo.", "kto_tag": True},
        {"instruction": request, "input": "", "output": "What is it?", "kto_tag": False},
        {"instruction": request, "input": "", "output": "List the office hours.", "kto_tag": False},
    ]
    assert _rows(out / "dpo" / "rewrites.jsonl") == []
    assert json.loads((out / "dpo" / "rewrites_ranking.json").read_text()) == []
    assert count_pairs(out) == {"instructions": 2, "rewrites": 0}


def test_a_chat_template_run_gets_conversational_pairs_and_a_rewrite_is_prompted_by_its_passage(tmp_path):
    from backtranslate.templates import REVERSE_TASK

    rewrite = {"text": "The office closes at 5 pm on Fridays.", "original": PASSAGE, "kept": True}
    out = _folder(tmp_path / "chat-run", template="chat", kept_meta={"rewrite": rewrite})
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    rows[0]["output"] = rewrite["text"]  # --rewrite: the kept output is the rewrite
    (out / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_formats(out, ["dpo"])
    user = [{"role": "user", "content": f"{REVERSE_TASK}\n\nInput:\n{PASSAGE}"}]
    first = _rows(out / "dpo" / "instructions.jsonl")[0]
    assert first == {
        "prompt": user,
        "chosen": [{"role": "assistant", "content": "Summarize the memo."}],
        "rejected": [{"role": "assistant", "content": "What is it?"}],
        "rejected_reason": REASON_1,
    }
    assert _rows(out / "dpo" / "rewrites.jsonl") == [
        {"prompt": "Summarize the memo.", "chosen": rewrite["text"], "rejected": PASSAGE}
    ]
    info = json.loads((out / "dataset_info.json").read_text())
    assert {"chat_run_dpo_instructions", "chat_run_dpo_rewrites"} <= set(info)


THREAD = ["Can we meet on Thursday?", "Thursday works. Room 4?", "Room 4 is booked, room 2?"]


def _thread_row(earlier):
    return {
        "instruction": "Reply to this email.",
        "input": "Subject: Re: Offsite\n\nRoom 2 is fine, 10:00?",
        "output": "10:00 in room 2 then.",
        "id": "t",
        "meta": {"history": earlier, "system": "Answer with knowledge from web search."},
    }


def test_a_reply_thread_becomes_history_turns_in_alpaca_sharegpt_and_messages(tmp_path):
    from backtranslate.formats import alpaca, history_pairs, messages, sharegpt

    # Three earlier messages: the oldest is the replier's own (an assistant turn with no user
    # turn before it) and is left out; the other two are a user turn and the replier's answer.
    row = _thread_row(THREAD)
    assert history_pairs(row) == [[THREAD[1], THREAD[2]]]
    assert history_pairs(_thread_row(THREAD[1:])) == [[THREAD[1], THREAD[2]]]
    assert history_pairs(_thread_row([])) == [] and history_pairs({"meta": {}}) == []
    request = "Reply to this email.\n\nSubject: Re: Offsite\n\nRoom 2 is fine, 10:00?"
    assert alpaca(row) == {
        "instruction": "Reply to this email.",
        "input": row["input"],
        "output": row["output"],
        "system": row["meta"]["system"],
        "history": [[THREAD[1], THREAD[2]]],
    }
    assert sharegpt(row) == {
        "conversations": [
            {"from": "human", "value": THREAD[1]},
            {"from": "gpt", "value": THREAD[2]},
            {"from": "human", "value": request},
            {"from": "gpt", "value": row["output"]},
        ],
        "system": row["meta"]["system"],
    }
    assert [m["role"] for m in messages(row)["messages"]] == ["user", "assistant", "user", "assistant"]


def _tag_all(folder, thread):
    """The folder with a thread reply added, every row with its system tag (as --system-tags)."""
    rows = [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines()] + [thread]
    for row in rows:
        row["meta"]["system"] = thread["meta"]["system"]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _entry_rows(folder, entry):
    path = folder / entry["file_name"]
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]


# LLaMA-Factory's data/README.md: the fields of an entry, its column names and its sharegpt tags.
_ENTRY_KEYS = {"file_name", "formatting", "ranking", "columns", "tags"}
_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "chosen", "rejected", "kto_tag"}
_TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}


def test_dataset_info_follows_llamafactory_schema_field_by_field(tmp_path):
    thread = _thread_row(THREAD) | {"meta": {**_thread_row(THREAD)["meta"], "passage_id": "p9"}}
    rewrite = {"text": "The office closes at 5 pm on Fridays.", "original": PASSAGE, "kept": True}
    folder = _folder(tmp_path / "my-run", kept_meta={"rewrite": rewrite, "system": thread["meta"]["system"]})
    _tag_all(folder, thread)
    write_formats(folder, ["sharegpt", "messages", "dpo", "kto"])
    info = json.loads((folder / "dataset_info.json").read_text())
    assert set(info) == {
        "my_run",
        "my_run_sharegpt",
        "my_run_messages",
        "my_run_dpo_instructions",
        "my_run_dpo_rewrites",
        "my_run_kto_instructions",
    }
    assert info["my_run"]["columns"] == {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "system": "system",
        "history": "history",
    }
    for name, entry in info.items():
        assert set(entry) <= _ENTRY_KEYS and set(entry["columns"]) <= _COLUMNS, name
        assert entry["formatting"] in ("alpaca", "sharegpt") and entry.get("ranking", False) in (True, False)
        columns = entry["columns"]
        rows = _entry_rows(folder, entry)
        assert rows, f"{name}: an entry for an empty file fails in LLaMA-Factory"
        for row in rows:
            if entry["formatting"] == "alpaca":
                for column, key in columns.items():
                    # Only rows of a thread have a history; the others read as None, which it skips.
                    assert key in row or column == "history", (name, column)
                assert isinstance(row[columns["prompt"]], str) and isinstance(row[columns["query"]], str)
                if entry.get("ranking"):
                    assert isinstance(row[columns["chosen"]], str) and isinstance(row[columns["rejected"]], str)
                elif "kto_tag" in columns:
                    assert isinstance(row[columns["kto_tag"]], bool) and isinstance(row[columns["response"]], str)
                else:
                    assert isinstance(row[columns["response"]], str)
                for turn in row.get(columns.get("history", ""), []):
                    assert len(turn) == 2 and all(isinstance(t, str) for t in turn)
            else:
                tags = entry["tags"]
                assert set(tags) <= _TAGS
                turns = row[columns["messages"]]
                roles = [t[tags["role_tag"]] for t in turns]
                # human/user in odd positions, gpt/assistant in even ones, ending on the answer
                assert roles == [tags["user_tag"], tags["assistant_tag"]] * (len(turns) // 2) and len(turns) % 2 == 0
                assert all(isinstance(t[tags["content_tag"]], str) for t in turns)
                assert "system" not in columns or isinstance(row[columns["system"]], str)
    sharegpt = _entry_rows(folder, info["my_run_sharegpt"])
    assert [len(r["conversations"]) for r in sharegpt] == [2, 2, 4]


def test_llamafactory_own_loader_reads_every_entry(tmp_path):
    """With LLAMAFACTORY_PYTHON naming an interpreter that has llamafactory (never a dependency
    here), its parser and converter read every entry of a folder (benchmarks/llamafactory_check.py)."""
    import os
    import subprocess

    import pytest

    python = os.environ.get("LLAMAFACTORY_PYTHON")
    if not python:
        pytest.skip("set LLAMAFACTORY_PYTHON to an interpreter with llamafactory installed")
    thread = _thread_row(THREAD) | {"meta": {**_thread_row(THREAD)["meta"], "passage_id": "p9"}}
    rewrite = {"text": "The office closes at 5 pm on Fridays.", "original": PASSAGE, "kept": True}
    folder = _folder(tmp_path / "lf-run", kept_meta={"rewrite": rewrite, "system": thread["meta"]["system"]})
    _tag_all(folder, thread)
    write_formats(folder, ["sharegpt", "messages", "dpo", "kto"])
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "llamafactory_check.py"
    done = subprocess.run([python, str(script), str(folder)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(str(folder))]
    assert len(lines) == 6 and all(line.endswith(" 0 invalid") for line in lines), done.stdout


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

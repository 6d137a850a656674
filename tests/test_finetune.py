import json

import pytest
from typer.testing import CliRunner

from backtranslate import models
from backtranslate.cli import app
from backtranslate.curate import LikelihoodScorer
from backtranslate.readers.seed import load_seed
from backtranslate.records import Record
from backtranslate.templates import GENERATED_TAG, SEED_TAG, get_template
from backtranslate.testing import loss_text
from backtranslate.train import build_examples, fit_to_length, tagged

runner = CliRunner()
GENERATED = [
    Record(
        instruction="Tell the team the office is closed on Friday.",
        output="Hi all, the office will be closed this Friday for maintenance. Please work from home.",
    ),
    Record(
        instruction="Summarise the release notes in one sentence.",
        output="Version 2.3 adds CSV export and fixes the login timeout.",
    ),
    Record(
        instruction="Ask Priya for the Q3 numbers by Monday.",
        output="Hi Priya, could you send me the Q3 numbers by Monday? Thanks!",
    ),
    Record(
        instruction="Explain what a VPN is to a new colleague.",
        output="A VPN makes your laptop part of the office network from anywhere, over an encrypted link.",
    ),
]


def _dataset(folder, records=GENERATED):
    """A dataset folder as generate writes it: data.jsonl with ids and provenance."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text(
        "".join(json.dumps({**r.to_alpaca(), "id": r.id, "meta": {"source": "mail/1.eml"}}) + "\n" for r in records)
    )
    return folder


def _seed_file(path, n=6):
    rows = [r.to_alpaca() for r in load_seed("default").records if not r.input][:n]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_humpback_tags_mark_seed_and_generated_pairs():
    seed = [Record(instruction="Write a haiku about rain.", output="Soft rain on the roof")]
    mixed = tagged(GENERATED[:1], seed, tags=True)
    assert [r.meta["origin"] for r in mixed] == ["seed", "generated"]
    alpaca = get_template("alpaca")
    assert alpaca.prompt(mixed[0]).startswith(SEED_TAG + "\n\nBelow is an instruction")
    assert alpaca.prompt(mixed[1]).startswith(GENERATED_TAG + "\n\n")
    chat = get_template("chat-forward").prompt(mixed[1])
    assert chat[0] == {"role": "system", "content": GENERATED_TAG} and chat[1]["role"] == "user"
    untagged = tagged(GENERATED[:1], seed, tags=False)
    assert all("system" not in r.meta for r in untagged)
    assert alpaca.prompt(untagged[1]).startswith("Below is an instruction")


def test_forward_examples_complete_with_the_output_and_cut_only_it(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    alpaca = get_template("alpaca")
    (example,), _ = build_examples(GENERATED[:1], alpaca, tok, 256)
    assert example["completion"] == GENERATED[0].output and "### Instruction:\nTell the team" in example["prompt"]
    long = Record(instruction="Repeat the word.", output="word " * 2000)
    fitted = fit_to_length(long, alpaca, tok, 200)
    assert len(tok(alpaca.prompt(fitted) + fitted.output)["input_ids"]) <= 199
    assert "Repeat the word." in alpaca.prompt(fitted) and fitted.meta["truncated_tokens"] > 0
    examples, skipped = build_examples([Record(instruction="long " * 300, output="x")], alpaca, tok, 64)
    assert examples == [] and skipped == {"instruction and input too long for max_length": 1}


def test_forward_loss_covers_the_output_only(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples, _ = build_examples(tagged(GENERATED[:1], [], tags=False), get_template("alpaca"), tok, 256)
    assert loss_text(tiny_model_dir, examples, tmp_path) == GENERATED[0].output + "<|im_end|>"


def test_finetune_cli_mixes_the_seed_and_saves_like_train(tiny_model_dir, tmp_path, bt_home):
    data, seed, out = _dataset(tmp_path / "ds"), _seed_file(tmp_path / "seed.jsonl"), tmp_path / "forward"
    result = runner.invoke(
        app,
        [
            "finetune",
            str(data),
            "--model",
            str(tiny_model_dir),
            "--seed",
            str(seed),
            "--output-dir",
            str(out),
            "--max-steps",
            "1",
            "--batch-size",
            "4",
            "--max-length",
            "256",
            "--precision",
            "fp32",
            "--val-fraction",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "finetune summary" in result.output and "forward adapter" in result.output
    manifest = json.loads((out / "backtranslate.json").read_text())
    assert manifest["kind"] == "forward-lora" and manifest["template"] == "alpaca"
    assert manifest["dataset"]["size"] == 4 and manifest["seed"]["size"] == 6
    assert manifest["tags"] == {"seed": SEED_TAG, "generated": GENERATED_TAG} and manifest["system"] == SEED_TAG
    assert manifest["examples"]["train"] + manifest["examples"]["val"] == 10
    assert (out / "adapter_model.safetensors").exists() and (out / "tokenizer_config.json").exists()

    # The adapter folder is a model everywhere: loaded merged, and scored in the assistant's style.
    model, _ = models.load(str(out))
    assert not hasattr(model, "peft_config")
    assert LikelihoodScorer(str(out)).system == SEED_TAG
    curated = runner.invoke(
        app, ["curate", str(data), "--model", str(out), "--top-fraction", "0.5", "--out", str(tmp_path / "curated")]
    )
    assert curated.exit_code == 0, curated.output
    assert len(json.loads((tmp_path / "curated" / "data.json").read_text())) == 2


def test_finetune_without_seed_has_no_tags(tiny_model_dir, tmp_path, bt_home):
    out = tmp_path / "forward"
    result = runner.invoke(
        app,
        [
            "finetune",
            str(_dataset(tmp_path / "ds")),
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(out),
            "--max-steps",
            "1",
            "--max-length",
            "256",
            "--precision",
            "fp32",
            "--val-fraction",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "backtranslate.json").read_text())
    assert manifest["seed"] is None and manifest["tags"] is None and manifest["system"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--template", "reverse"], "use a forward template"),
        (["--eval-fraction", "0.1"], "eval_fraction evaluates backward models"),
        (["--seed", "./no/such/seed.jsonl"], "does not exist"),
    ],
)
def test_finetune_refuses_bad_requests_in_one_sentence(args, message, tiny_model_dir, tmp_path, bt_home):
    result = runner.invoke(
        app,
        [
            "finetune",
            str(_dataset(tmp_path / "ds")),
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_finetune_needs_a_dataset(tmp_path):
    result = runner.invoke(app, ["finetune", "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "name the data to train on (backtranslate finetune DATASET)" in result.output
    result = runner.invoke(app, ["finetune", str(tmp_path / "nothing.jsonl"), "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "does not exist" in result.output

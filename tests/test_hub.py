"""Everything up to the Hub: the DatasetDict, the card, the checks. Only the two upload calls
(datasets' DatasetDict.push_to_hub and huggingface_hub's DatasetCard.push_to_hub) are replaced,
by recorders; what reaches them is what would be uploaded."""

import json

import pytest
from datasets import DatasetDict
from huggingface_hub import DatasetCard
from typer.testing import CliRunner

from backtranslate import hub
from backtranslate.cli import app
from backtranslate.dataset import card_header, size_category

runner = CliRunner()


@pytest.fixture()
def uploads(monkeypatch):
    calls = {}

    def push_data(self, repo_id, **kwargs):
        calls["data"] = (self, repo_id, kwargs)

    def push_card(self, repo_id, **kwargs):
        calls["card"] = (self, repo_id, kwargs)

    monkeypatch.setattr(DatasetDict, "push_to_hub", push_data)
    monkeypatch.setattr(DatasetCard, "push_to_hub", push_card)
    return calls


@pytest.fixture()
def converted(tmp_path):
    source = tmp_path / "d.jsonl"
    source.write_text(
        "".join(json.dumps({"text": f"message {i}", "label": "spam" if i % 2 else "ham"}) + "\n" for i in range(6))
    )
    return source


@pytest.mark.parametrize("n, category", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (150_000, "100K<n<1M")])
def test_size_categories_are_the_hubs_values(n, category):
    assert size_category(n) == category


def test_the_card_header_follows_the_hub_conventions():
    card = DatasetCard(card_header(12, "Backtranslated instructions", ["alpaca"], "other", "de") + "\n# Title\n")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_name"] == "corpus-terms" and data["language"] == ["de"]
    assert data["task_categories"] == ["text-generation"] and data["size_categories"] == ["n<1K"]
    assert data["configs"][0]["data_files"] == [{"split": "train", "path": "data.json"}]


def test_convert_push_to_hub_sends_the_records_and_the_card(converted, tmp_path, uploads, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "convert",
            str(converted),
            "--instruction",
            "Is this message {labels}?",
            "--out",
            str(out),
            "--license",
            "cc-by-4.0",
            "--push-to-hub",
            "me/spam-or-ham",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Pushed to https://huggingface.co/datasets/me/spam-or-ham (private)" in result.output
    data, repo, kwargs = uploads["data"]
    assert repo == "me/spam-or-ham" and kwargs["private"] is True
    assert list(data) == ["train"] and data["train"].column_names == ["instruction", "input", "output"]
    assert data["train"].num_rows == 6 and data["train"][0]["instruction"] == "Is this message ham or spam?"
    card, card_repo, card_kwargs = uploads["card"]
    assert card_repo == "me/spam-or-ham" and card_kwargs["repo_type"] == "dataset"
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]  # the pushed Parquet
    assert "Converted from" in card.text
    assert "data.json" in (out / "README.md").read_text()  # the local card still points at the local file


def test_public_push_and_curated_cards_keep_the_source_license(converted, tmp_path, uploads, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    runner.invoke(
        app, ["convert", str(converted), "--instruction", "Label it.", "--out", str(tmp_path / "c"), "--license", "mit"]
    )
    result = runner.invoke(app, ["dedup", str(tmp_path / "c"), "--push-to-hub", "me/deduped", "--no-hub-private"])
    assert result.exit_code == 0, result.output
    assert uploads["data"][2]["private"] is False
    assert uploads["card"][0].data.to_dict()["license"] == "mit"


@pytest.mark.parametrize(
    "name, message", [("not a name", "is not a Hub dataset name"), ("me/ok", "HF_HUB_OFFLINE is set")]
)
def test_push_refuses_bad_names_and_offline_mode(name, message, converted, tmp_path, uploads, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner.invoke(app, ["convert", str(converted), "--instruction", "Label it.", "--out", str(tmp_path / "c")])
    with pytest.raises(hub.UserError, match=message):
        hub.push(tmp_path / "c", name)
    assert uploads == {}


def test_a_failed_upload_is_one_sentence(converted, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(self, repo_id, **kwargs):
        raise OSError("401 Client Error: Unauthorized")

    monkeypatch.setattr(DatasetDict, "push_to_hub", refuse)
    result = runner.invoke(
        app,
        [
            "convert",
            str(converted),
            "--instruction",
            "Label it.",
            "--out",
            str(tmp_path / "c"),
            "--push-to-hub",
            "me/x",
        ],
    )
    assert result.exit_code == 2 and "Could not push to the Hub dataset 'me/x' (401 Client Error" in result.output


def test_generate_checks_the_hub_name_before_any_work(tmp_path):
    result = runner.invoke(app, ["generate", "--push-to-hub", "bad name", "--out", str(tmp_path / "o"), "--dry-run"])
    assert result.exit_code == 2 and "push_to_hub must be a Hub dataset name" in result.output


def test_a_folder_without_records_or_card_is_refused(tmp_path):
    (tmp_path / "data.json").write_text("[]\n")
    with pytest.raises(hub.UserError, match="holds no pairs"):
        hub.dataset_dict(tmp_path)
    with pytest.raises(hub.UserError, match="has no dataset card"):
        hub.hub_card(tmp_path)

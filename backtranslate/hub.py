"""Publishing a dataset folder on the Hugging Face Hub.

The Alpaca records (data.json) go up as a ``DatasetDict`` through ``datasets``' ``push_to_hub``
(Parquet shards under ``data/``), then the folder's card (README.md), its YAML header repointed
at those shards. Provenance in data.jsonl (file paths of a possibly private corpus) stays local.
Everything before the two upload calls runs, and is tested, offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import UserError

# The card metadata the Hub's dataset-card conventions ask for.
REQUIRED_METADATA = ("license", "language", "task_categories", "size_categories")
PUSHED_FILES = "data/train-*"  # where datasets' push_to_hub writes the train split


def dataset_dict(folder: str | Path) -> Any:
    """The folder's Alpaca records as a DatasetDict with one ``train`` split."""
    from datasets import Dataset, DatasetDict

    path = Path(folder) / "data.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f"{path} is missing or unreadable ({e}); push a folder written by generate, curate, "
            "convert, dedup or merge."
        ) from None
    if not rows:
        raise UserError(f"{path} holds no pairs; there is nothing to push.")
    columns = {k: [r.get(k, "") for r in rows] for k in ("instruction", "input", "output")}
    return DatasetDict({"train": Dataset.from_dict(columns)})


def hub_card(folder: str | Path) -> Any:
    """The folder's card, checked for the metadata the Hub expects, its ``configs`` pointing
    at the pushed Parquet shards instead of the local data.json."""
    from huggingface_hub import DatasetCard

    path = Path(folder) / "README.md"
    if not path.is_file():
        raise UserError(
            f"{folder} has no dataset card (README.md); it is written with the dataset, so rerun the command that made it."
        )
    card = DatasetCard(path.read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED_METADATA if not getattr(card.data, key, None)]
    if missing:
        raise UserError(
            f"The card {path} lacks {', '.join(missing)} in its YAML header; regenerate it with backtranslate."
        )
    card.data.configs = [{"config_name": "default", "data_files": [{"split": "train", "path": PUSHED_FILES}]}]
    return card


def check_repo_id(name: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as e:
        raise UserError(f"'{name}' is not a Hub dataset name ({str(e).splitlines()[0]}); use 'user/name'.") from None


def push(folder: str | Path, name: str, private: bool = True, token: str | None = None) -> str:
    """Push the folder's records and card to the dataset repo ``name``; returns its URL.
    Private by default: backtranslated mail and documents are often not for everyone."""
    from huggingface_hub.errors import HfHubHTTPError

    check_repo_id(name)
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise UserError("HF_HUB_OFFLINE is set, so nothing can be pushed; unset it to use --push-to-hub.")
    data, card = dataset_dict(folder), hub_card(folder)
    try:
        data.push_to_hub(name, private=private, token=token, commit_message="Upload dataset from backtranslate")
        card.push_to_hub(name, token=token, repo_type="dataset", commit_message="Dataset card from backtranslate")
    except (HfHubHTTPError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"Could not push to the Hub dataset '{name}' ({first}); log in with `hf auth login` "
            "or set HF_TOKEN, and check that you may write to that name."
        ) from None
    return f"https://huggingface.co/datasets/{name}"

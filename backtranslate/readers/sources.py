"""What a data argument names, the same for --corpus, --seed, --heldout, --decontaminate,
`finetune --dataset`, curate/dedup/report DATASET and convert SOURCE:

- a file: read by its extension;
- a `datasets.save_to_disk` folder: that dataset (every reader loads it the same way);
- any other folder: the files in it (a corpus's documents; a seed's or evaluation set's
  JSON/JSONL/CSV/Parquet files);
- anything else shaped like ``org/name`` or ``org/name:config``: a Hugging Face Hub dataset.

corpus.py reads documents from these and seed.py rows of pairs; both ask this module which
kind a spec is and load datasets through it, so a new kind of source is added here once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError

_DATASET_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(:[\w.-]+)?")
# Files `save_to_disk` writes beside the Arrow data: a folder holding one is a saved dataset.
_SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in _SAVED_MARKERS)


def hub_name(spec: str, file_suffixes: tuple[str, ...] = ()) -> Optional[tuple[str, Optional[str]]]:
    """(name, config) when ``spec`` can only mean a Hub dataset: no such local path, the shape of
    ``org/name[:config]``, and not a file name with one of ``file_suffixes``."""
    path = Path(spec).expanduser()
    if path.exists() or path.is_symlink() or spec.startswith((".", "/", "~")):
        return None
    if not _DATASET_NAME.fullmatch(spec) or Path(spec.partition(":")[0]).suffix.lower() in file_suffixes:
        return None
    name, _, config = spec.partition(":")
    return name, config or None


def load_dataset(spec: str, what: str, all_splits: bool = False, streaming: bool = False) -> Iterator[dict[str, Any]]:
    """The rows of a saved dataset folder or a Hub dataset ``name[:config]``: its train split
    (or its first split when it has no train split), or every split with ``all_splits``. Any
    failure to load is one sentence naming ``what`` was being read."""
    try:
        import datasets

        path = Path(spec).expanduser()
        if is_saved_dataset(path):
            data = datasets.load_from_disk(str(path))
        else:
            name, _, config = spec.partition(":")
            data = datasets.load_dataset(name, config or None, streaming=streaming)
    except Exception as e:  # datasets raises many types for "not found", "offline", "gated"
        first = str(e).splitlines()[0] if str(e) else ""
        raise UserError(
            f"{what} {spec} is neither a local file or folder nor a loadable Hugging Face dataset "
            f"({type(e).__name__}: {first}); check the path or name, your network and access rights."
        ) from None
    if not isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return iter(data)
    if all_splits:
        return (row for split in data.values() for row in split)
    return iter(data["train"] if "train" in data else next(iter(data.values())))

"""Load every entry of a dataset folder's dataset_info.json with LLaMA-Factory's own code.

Each entry goes through LLaMA-Factory's `get_dataset_list` (parser.py: the entry's fields and
columns) and `align_dataset` (converter.py: the rows into its prompt/response layout), as
`llamafactory-cli train ... dataset_dir=<folder> dataset=<name>` does before tokenizing. A row the
converter finds invalid (turns in the wrong order, a ranking row without both answers) comes out
with an empty prompt or response: the check counts those and fails on any.

LLaMA-Factory is not a dependency of backtranslate: run this with an interpreter that has it,
e.g. a separate venv (`python3 -m venv /tmp/lf && /tmp/lf/bin/pip install llamafactory`). Its
`llamafactory.data` package imports its multimodal plugin (torchaudio, av) on import; the two
modules used here need neither, so they are loaded without the package's __init__.

    /tmp/lf/bin/python benchmarks/llamafactory_check.py runs/prefs [more folders]
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace


def llamafactory_modules() -> tuple[types.ModuleType, types.ModuleType]:
    import llamafactory

    data = types.ModuleType("llamafactory.data")  # the package, without its __init__'s imports
    data.__path__ = [str(Path(llamafactory.__file__).parent / "data")]
    sys.modules.setdefault("llamafactory.data", data)
    return importlib.import_module("llamafactory.data.parser"), importlib.import_module("llamafactory.data.converter")


def check(folder: Path) -> dict[str, dict[str, int]]:
    """Per entry: rows read, and rows the converter left without a prompt or a response."""
    import tempfile

    from datasets import load_dataset

    parser, converter = llamafactory_modules()
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    data_args = SimpleNamespace(streaming=False, preprocessing_num_workers=None, overwrite_cache=True, media_dir=None)
    training_args = SimpleNamespace(local_process_index=0)
    result = {}
    for attr in parser.get_dataset_list(list(info), str(folder)):
        assert attr.load_from == "file", attr
        with tempfile.TemporaryDirectory() as cache:  # a fresh cache per file: no stale splits
            rows = load_dataset("json", data_files=str(folder / attr.dataset_name), split="train", cache_dir=cache)
            rows = rows.flatten_indices(keep_in_memory=True)
        aligned = converter.align_dataset(rows, attr, data_args, training_args)
        # A ranking row has the chosen and the rejected answer; a KTO row its answer and an empty
        # one, whose place (after: desirable, before: undesirable) carries the label.
        want = 2 if attr.ranking or attr.kto_tag else 1
        bad = sum(not r["_prompt"] or len(r["_response"]) != want for r in aligned)
        result[attr.dataset_name] = {"rows": len(aligned), "invalid": bad}
    return result


def main() -> int:
    failed = False
    for folder in sys.argv[1:]:
        for name, counts in check(Path(folder)).items():
            print(f"{folder} {name}: {counts['rows']} rows, {counts['invalid']} invalid")
            failed |= counts["invalid"] > 0 or counts["rows"] == 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())

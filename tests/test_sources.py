"""One meaning for a data argument everywhere (sources.py): a saved dataset folder, a folder of
table files and a Hub name[:config] are read the same way by --corpus, --seed and --decontaminate."""

import json

import pytest

from backtranslate.errors import UserError
from backtranslate.filters.decontaminate import load_eval_sets
from backtranslate.readers.corpus import read_corpus
from backtranslate.readers.seed import load_seed
from backtranslate.readers.sources import hub_name, is_saved_dataset

ROWS = [
    {
        "instruction": f"Explain step {i} of the backup procedure.",
        "output": f"Step {i}: copy the project folder to the shared drive and check the file count {i} times.",
        "text": f"Step {i}: copy the project folder to the shared drive and check the file count {i} times.",
    }
    for i in range(4)
]


@pytest.fixture()
def saved(tmp_path):
    from datasets import Dataset

    folder = tmp_path / "saved"
    Dataset.from_list(ROWS).save_to_disk(str(folder))
    return folder


@pytest.fixture()
def tables(tmp_path):
    folder = tmp_path / "tables"
    (folder / "part").mkdir(parents=True)
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2]))
    (folder / "part" / "b.json").write_text(json.dumps(ROWS[2:]))
    (folder / "notes.txt").write_text("not a table")
    return folder


def test_a_saved_dataset_folder_is_the_same_rows_to_every_reader(saved):
    assert is_saved_dataset(saved)
    assert [r.output for r in read_corpus(str(saved))] == [r["text"] for r in ROWS]
    assert [r.instruction for r in load_seed(str(saved)).records] == [r["instruction"] for r in ROWS]
    [eval_set] = load_eval_sets([str(saved)])
    assert eval_set.items == len(ROWS)


def test_a_folder_of_table_files_is_read_file_by_file(tables):
    assert not is_saved_dataset(tables)
    assert [r.instruction for r in load_seed(str(tables)).records] == [r["instruction"] for r in ROWS]
    [eval_set] = load_eval_sets([str(tables)])
    assert eval_set.items == len(ROWS)


def test_hub_names_take_a_config_and_local_paths_are_never_hub_names(tables):
    assert hub_name("org/name") == ("org/name", None)
    assert hub_name("org/name:en") == ("org/name", "en")
    assert hub_name(str(tables)) is None and hub_name("./org/name") is None
    assert hub_name("pairs.jsonl", (".jsonl",)) is None


def test_an_empty_folder_says_what_it_lacks(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no .json, .jsonl, .csv or .parquet file"):
        load_seed(str(tmp_path / "empty"))

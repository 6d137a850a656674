"""Decontamination: a pair sharing a 13-word run with, or nearly duplicating, an item of an
evaluation set is dropped with the reason contaminated:<set>."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.errors import UserError
from backtranslate.filters.decontaminate import Contamination, load_eval_sets
from backtranslate.records import Record

runner = CliRunner()

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
RIDDLE = "Write a short poem about the autumn rain falling softly on the old temple roof at dusk."


def write_set(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def bench(tmp_path: Path):
    path = write_set(
        tmp_path / "gsm-mini.jsonl",
        [
            {"question": QUESTION, "answer": "72"},
            {"question": "Which planet is largest?", "choices": ["Mars", "Jupiter"], "answer": 1},
            {
                "messages": [
                    {"role": "user", "content": RIDDLE},
                    {"role": "assistant", "content": "Rain on old tiles..."},
                ]
            },
        ],
    )
    [eval_set] = load_eval_sets([str(path)])
    return eval_set


def test_a_shared_13_word_run_anywhere_in_the_output_is_contamination(bench):
    f = Contamination(bench)
    passage = "Some context first. " + QUESTION.lower().replace(",", "") + " Then our own words about clips."
    keep, why = f.filter(Record(output=passage))
    assert f.name == "contaminated:gsm-mini" and not keep
    assert why.startswith("output shares a 13-word run with item 0: 'natalia sold clips to 48")


def test_a_near_duplicate_instruction_is_contamination_and_twelve_words_are_not(bench):
    f = Contamination(bench)
    reworded = "Write a short poem about autumn rain falling softly on the old temple roof at dusk, please."
    keep, why = f.filter(Record(output="A poem.", instruction=reworded))
    assert not keep and why.startswith("instruction near duplicate of item 2 (estimated Jaccard")
    twelve = " ".join(QUESTION.split()[:12])  # a run one word short of 13
    assert (
        f.filter(Record(output=f"{twelve} and then something else entirely.", instruction="Count the clips.")) is True
    )
    assert f.filter(Record(output="Which planet is largest? Jupiter.", instruction="Name a planet.")) is True


def test_eval_sets_are_named_by_file_and_read_from_saved_datasets(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {"test": Dataset.from_list([{"q": QUESTION}]), "validation": Dataset.from_list([{"q": RIDDLE}])}
    ).save_to_disk(str(tmp_path / "saved"))
    write_set(tmp_path / "a.jsonl", [{"text": RIDDLE}])
    sets = load_eval_sets([str(tmp_path / "saved"), str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl")])
    assert [(s.name, s.items) for s in sets] == [("saved", 2), ("a", 1), ("a#2", 1)]
    with pytest.raises(UserError, match="has no rows"):
        load_eval_sets([str(write_set(tmp_path / "empty.jsonl", []))])


def test_an_unloadable_eval_set_is_one_clear_error(monkeypatch):
    import datasets
    import huggingface_hub

    # Offline as the test machines are, without waiting for the network to time out.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="Evaluation set nobody/no-such-set is neither"):
        load_eval_sets(["nobody/no-such-set"])


def test_generate_drops_a_planted_benchmark_overlap_with_its_reason(tiny_adapter, tmp_path, bench):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a-clean.md").write_text(
        "Our office plants need water twice a week in summer and once a week in winter. "
        "Ask reception for the watering can, which lives next to the coffee machine.\n"
    )
    (corpus / "b-leaked.md").write_text(
        "Here is a puzzle from the team quiz last Friday. "
        + QUESTION
        + " The answer surprised most of the people in the room.\n"
    )
    other = write_set(tmp_path / "mmlu-mini.jsonl", [{"question": "What is the capital of France?", "answer": "Paris"}])
    args = [
        "generate",
        "--corpus",
        str(corpus),
        "--model",
        str(tiny_adapter),
        "--out",
        str(tmp_path / "ds"),
        "--greedy",
        "--max-new-tokens",
        "6",
        "--precision",
        "fp32",
        "--no-filter",
        "--decontaminate",
        bench.spec,
        "--decontaminate",
        str(other),
    ]
    dry = runner.invoke(app, args + ["--dry-run"])
    assert yaml.safe_load(dry.output)["generate"]["decontaminate"] == [bench.spec, str(other)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "ds"
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [r["meta"]["source"] for r in rows] == ["a-clean.md"]
    [leak] = rejected
    assert leak["meta"]["source"] == "b-leaked.md" and leak["stage"] == "passage"
    assert leak["reason"].startswith("contaminated:gsm-mini: output shares a 13-word run with item 0")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["passages"]["dropped"] == {"contaminated:gsm-mini": 1}
    assert [s["name"] for s in stats["decontamination"]] == ["gsm-mini", "mmlu-mini"]
    assert f"decontaminated against `{bench.spec}` (3 items" in (out / "README.md").read_text()

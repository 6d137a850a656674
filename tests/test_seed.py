import json
from collections import Counter

import pytest

from backtranslate.errors import UserError
from backtranslate.readers.seed import LAYOUTS, load_seed
from tests.conftest import SHARED_DATA


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_default_seed_is_large_diverse_and_clean():
    seed = load_seed("default")
    assert len(seed.records) >= 150
    assert seed.layout == "alpaca" and not seed.skipped
    assert sum(1 for r in seed.records if r.input) >= 10
    lengths = sorted(len(r.output.split()) for r in seed.records)
    assert lengths[0] < 40 and lengths[-1] > 150  # a mix of short and long responses
    assert len({r.instruction for r in seed.records}) == len(seed.records)


def test_alpaca_json_list(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps(
            [
                {"instruction": "Say hi.", "input": "", "output": "Hi!"},
                {"instruction": "Sum.", "input": "2 and 3", "output": "5"},
            ]
        )
    )
    seed = load_seed(str(path))
    assert seed.layout == "alpaca"
    assert [(r.instruction, r.input, r.output) for r in seed.records] == [
        ("Say hi.", "", "Hi!"),
        ("Sum.", "2 and 3", "5"),
    ]


def test_dolly_jsonl(tmp_path):
    seed = load_seed(
        _jsonl(
            tmp_path / "d.jsonl",
            [
                {
                    "instruction": "Who wrote it?",
                    "context": "A memo by Ana.",
                    "response": "Ana.",
                    "category": "closed_qa",
                }
            ],
        )
    )
    assert seed.layout == "dolly"
    assert (seed.records[0].input, seed.records[0].output) == ("A memo by Ana.", "Ana.")


def test_self_instruct_gives_one_pair_per_instance(tmp_path):
    seed = load_seed(
        _jsonl(
            tmp_path / "s.jsonl",
            [
                {
                    "instruction": "Classify.",
                    "instances": [{"input": "great", "output": "positive"}, {"input": "awful", "output": "negative"}],
                },
                {"instruction": "Empty.", "instances": []},
            ],
        )
    )
    assert seed.layout == "self-instruct"
    assert [r.output for r in seed.records] == ["positive", "negative"]
    assert seed.skipped == Counter({"no instances": 1})


def test_prompt_response_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("prompt,response\nName a colour.,Blue\n\"Two, words\",\"Yes, two\"\n", encoding="utf-8")
    seed = load_seed(str(path))
    assert seed.layout == "prompt/response"
    assert [(r.instruction, r.output) for r in seed.records] == [("Name a colour.", "Blue"), ("Two, words", "Yes, two")]


def test_prompt_completion_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"prompt": ["Count to three."], "completion": ["One, two, three."]}), path)
    seed = load_seed(str(path))
    assert seed.layout == "prompt/completion" and seed.records[0].output == "One, two, three."


def test_saved_dataset_folder(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{"instruction": "Hi?", "output": "Hello."}]).save_to_disk(tmp_path / "ds")
    seed = load_seed(str(tmp_path / "ds"))
    assert seed.records[0].instruction == "Hi?"


def test_fields_override(tmp_path):
    path = _jsonl(tmp_path / "q.jsonl", [{"question": "Why?", "answer": "Because.", "ctx": "c"}])
    seed = load_seed(path, fields="instruction=question,output=answer,input=ctx")
    assert (seed.records[0].instruction, seed.records[0].input, seed.records[0].output) == ("Why?", "c", "Because.")
    with pytest.raises(UserError, match="does not have"):
        load_seed(path, fields="instruction=query,output=answer")
    with pytest.raises(UserError, match="Bad --fields entry"):
        load_seed(path, fields="instruction:question")


def test_unusable_rows_are_counted_not_fatal(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"instruction": "Good.", "output": "Fine."}\n'
        '{"instruction": "", "output": "No instruction."}\n'
        '{"instruction": "No output.", "output": "  "}\n'
        '{"instruction": "Broken", "output": \n'
        '[1, 2]\n'
        '{"instruction": "Good.", "output": "Fine."}\n',
        encoding="utf-8",
    )
    seed = load_seed(str(path))
    assert [r.output for r in seed.records] == ["Fine."]
    assert seed.skipped == Counter(
        {
            "missing instruction": 1,
            "empty response": 1,
            "malformed JSON line": 1,
            "row is not a JSON object": 1,
            "duplicate pair": 1,
        }
    )
    assert seed.skipped_lines == [4]


def test_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(UserError, match="has no rows"):
        load_seed(str(tmp_path / "e.jsonl"))


def test_only_malformed_lines_is_a_clear_error(tmp_path):
    (tmp_path / "bad.jsonl").write_text("not json\n{also not\n")
    with pytest.raises(UserError, match="only malformed lines \\(first at line 1\\)"):
        load_seed(str(tmp_path / "bad.jsonl"))


def test_wrong_fields_name_the_columns_and_the_fix(tmp_path):
    path = _jsonl(tmp_path / "w.jsonl", [{"title": "x", "body": "y"}])
    with pytest.raises(UserError) as e:
        load_seed(path)
    message = str(e.value)
    assert "body, title" in message and "--fields" in message
    assert all(name in message for name in LAYOUTS)


def test_no_usable_rows_is_an_error(tmp_path):
    path = _jsonl(tmp_path / "n.jsonl", [{"instruction": "", "output": "x"}])
    with pytest.raises(UserError, match="no usable pairs \\(1 missing instruction\\)"):
        load_seed(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_seed(str(tmp_path / "nope.jsonl"))
    (tmp_path / "seed.txt").write_text("hello")
    with pytest.raises(UserError, match="unknown extension"):
        load_seed(str(tmp_path / "seed.txt"))


@pytest.mark.skipif(not (SHARED_DATA / "self-instruct-seed-tasks.jsonl").exists(), reason="../shared absent")
def test_real_self_instruct_seed_tasks():
    seed = load_seed(str(SHARED_DATA / "self-instruct-seed-tasks.jsonl"))
    assert seed.layout == "self-instruct" and len(seed.records) >= 175

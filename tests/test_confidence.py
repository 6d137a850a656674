"""The confidence filter: the backward model's own certainty of the instruction it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from backtranslate.config import GenerateConfig
from backtranslate.filters import FilterStats, apply_filters
from backtranslate.filters.confidence import DEFAULT_THRESHOLD, Confidence
from backtranslate.generate import generate, pair_filters
from backtranslate.inference import BackwardModel, Decoding
from backtranslate.records import Record

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
PASSAGE = "The cache keeps the results of each query for five minutes, so repeated reports load at once."


@pytest.fixture(scope="module")
def backward(lively_adapter):
    model = BackwardModel(str(lively_adapter), precision="fp32")
    yield model
    model.close()


def test_batched_scoring_equals_each_sequence_scored_alone(backward):
    engine = backward.engine
    sequences = [list(range(5, 40)), list(range(100, 112)), list(range(60, 90))]
    starts = [30, 4, 29]
    batched = engine.logprobs(sequences, starts)
    for seq, start, got in zip(sequences, starts, batched):
        with torch.inference_mode():
            logits = engine.model(input_ids=torch.tensor([seq])).logits.float()
        want = torch.log_softmax(logits[0, :-1], -1).gather(-1, torch.tensor(seq[1:])[:, None])[:, 0]
        assert len(got) == len(seq) - start
        assert got == pytest.approx(want[start - 1 :].tolist(), abs=1e-4)


def test_the_models_own_instruction_scores_above_another_and_the_threshold_drops_it(backward):
    passage = Record(output=PASSAGE, id="p1")
    own = next(iter(backward.generate([passage], Decoding(greedy=True, max_new_tokens=12))))
    other = Record(output=PASSAGE, instruction="Translate this poem about autumn leaves into French.", id="p2")
    (own_given, own_without), (other_given, _) = Confidence(model=backward).logprobs([own, other])
    assert own_given > other_given  # greedy text is the model's likeliest: it was sure of it
    middle = (own_given + other_given) / 2  # with gain_weight 0 the score is log p with the passage
    stats, rejects = FilterStats(), []
    kept = list(
        apply_filters([own, other], [Confidence(middle, gain_weight=0.0, model=backward)], stats, rejects.append)
    )
    assert kept == [own] and rejects == [other]
    assert own.meta["confidence"] == pytest.approx(own_given, abs=1e-3)
    assert other.meta["reject_reason"].startswith(f"confidence: score {other_given:.3f} < {middle}")
    gain = Confidence(None, gain_weight=1.0, model=backward)
    list(gain.verdicts([own]))
    assert own.meta["confidence"] == pytest.approx(2 * own_given - own_without, abs=1e-3)


def test_generate_with_confidence_scores_every_kept_pair_and_says_so_in_the_card(lively_adapter, tmp_path, monkeypatch):
    # The lively model writes noise; which of it passes the cheap checks (length, truncation)
    # changed with the CPU's rounding, and on an AVX2 CPU none did. Only the dataset-wide
    # deduplication stays in front of the confidence filter here: this test is about its scores.
    from backtranslate import generate as generate_module

    every = generate_module.default_pair_filters
    monkeypatch.setattr(
        generate_module,
        "default_pair_filters",
        lambda **kw: [f for f in every(**kw) if f.name in ("exact_duplicate", "near_duplicate")],
    )
    out = tmp_path / "out"
    cfg = GenerateConfig(
        corpus=str(CORPORA / "emails"),
        out=str(out),
        model=str(lively_adapter),
        greedy=True,
        max_new_tokens=24,
        precision="fp32",
        email_mode="message",
        max_passages=16,
        relevance=False,
        confidence=True,
        confidence_threshold=-1e9,  # score, drop nothing: what is kept must carry its score
    )
    generate(cfg)
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert rows and all(isinstance(r["meta"]["confidence"], float) for r in rows)
    card = (out / "README.md").read_text()
    assert "confidence: on" in card and "`meta.confidence`" in card


def test_the_chain_binds_the_runs_model_and_merge_has_none(lively_adapter, backward):
    cfg = GenerateConfig(corpus="x", out="y", model=str(lively_adapter), confidence=True)
    scored = [f for f in pair_filters(cfg, [], backward) if isinstance(f, Confidence)]
    assert len(scored) == 1 and scored[0].model is backward and scored[0].threshold == DEFAULT_THRESHOLD
    assert not any(isinstance(f, Confidence) for f in pair_filters(cfg, []))  # merge re-runs dataset-wide ones only
    off = GenerateConfig(corpus="x", out="y", model=str(lively_adapter))
    assert not any(isinstance(f, Confidence) for f in pair_filters(off, [], backward))  # off unless asked for

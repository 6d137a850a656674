"""The transformers backend: token-budget batching, the decoding loop against `generate`,
stop handling and per-candidate sampling, on the tiny real model of conftest.py."""

import random

import pytest
import torch

from backtranslate import templates
from backtranslate.inference import BackwardModel, Decoding
from backtranslate.inference.batching import equal_length_runs, longest_first, plan_batches
from backtranslate.inference.decoder import StopCheck, choose, shared_prefix
from backtranslate.records import Record

WORDS = "the budget meeting moves to friday please send the report before noon and thanks".split()


def _passages(n, seed=0, lo=3, hi=120):
    rng = random.Random(seed)
    return [
        Record(output=" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))), id=f"p{i}") for i in range(n)
    ]


def test_token_budget_batches_keep_every_prompt_once_longest_first():
    rng = random.Random(1)
    for _ in range(300):
        lengths = [rng.randint(1, 600) for _ in range(rng.randint(0, 60))]
        new, budget, rows, k = rng.randint(1, 100), rng.randint(50, 20000), rng.randint(1, 40), rng.randint(1, 4)
        batches = plan_batches(lengths, new, budget, rows, rows_per_prompt=k)
        flat = [i for b in batches for i in b]
        assert flat == longest_first(lengths)  # nothing dropped, nothing repeated, one global order
        assert sorted(flat) == list(range(len(lengths)))
        for b in batches:
            padded = len(b) * k * (max(lengths[i] for i in b) + new)
            assert len(b) == 1 or (padded <= budget and len(b) * k <= max(rows, k))


def test_longest_first_is_stable_and_equal_lengths_share_a_run():
    assert longest_first([5, 9, 5, 9, 1]) == [1, 3, 0, 2, 4]
    assert equal_length_runs([5, 9, 5, 9, 1]) == [[1, 3], [0, 2], [4]]


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4, 6]]) == 3
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix([[7, 1], [8, 1]]) == 0 and shared_prefix([[4, 4, 4]]) == 2


@pytest.fixture(scope="module")
def loops(lively_adapter):
    """The decoding loop and transformers' `generate` on the same model, with " t" as the stop
    string: the lively model writes it now and then, where it hardly ever writes '###'."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(templates, "REVERSE_STOPS", [" t"])
        return (
            BackwardModel(str(lively_adapter), precision="fp32", loop="decoder"),
            BackwardModel(str(lively_adapter), precision="fp32", loop="generate"),
        )


def _rows(candidates):
    return [
        (c.meta["passage_id"], c.meta["raw"], c.meta["generated_tokens"], c.meta["finish_reason"]) for c in candidates
    ]


def test_decoding_loop_matches_generate_on_greedy(loops):
    ours, reference = loops
    passages = _passages(24)
    decoding = Decoding(greedy=True, max_new_tokens=40, batch_size=7, batch_tokens=6000)
    got, want = _rows(ours.generate(passages, decoding)), _rows(reference.generate(passages, decoding))
    assert [r[0] for r in got] == [p.id for p in passages]
    assert got == want
    # the comparison covers rows ended by EOS, by the stop string and by the length limit
    ends = {(r[3], " t" in r[1]) for r in got}
    assert {("stop", True), ("stop", False), ("length", False)} <= ends


def test_batching_never_drops_or_reorders_passages(loops):
    ours, _ = loops
    passages = _passages(17, seed=3, lo=1, hi=200)
    for budget, rows in ((1, 1), (700, 3), (100000, 64)):
        out = list(
            ours.generate(passages, Decoding(greedy=True, max_new_tokens=4, batch_size=rows, batch_tokens=budget))
        )
        assert [c.meta["passage_id"] for c in out] == [p.id for p in passages]


def test_sampled_candidates_do_not_depend_on_batching(loops):
    ours, _ = loops
    passages = _passages(6, seed=4)
    runs = [
        _rows(
            ours.generate(
                passages, Decoding(num_candidates=3, max_new_tokens=10, batch_size=size, batch_tokens=100000, seed=7)
            )
        )
        for size in (1, 6)
    ]
    assert runs[0] == runs[1]
    assert len({r[1] for r in runs[0]}) > 1  # sampling, not three copies of one answer
    other = _rows(ours.generate(passages, Decoding(num_candidates=3, max_new_tokens=10, seed=8)))
    assert other != runs[0]


def test_stop_check_ends_on_eos_or_a_stop_string_across_tokens(loops):
    tok = loops[0].tokenizer
    check = StopCheck(tok, {tok.eos_token_id}, ["###"])
    split = [tok.convert_tokens_to_ids("#")] * 3  # "###" written one "#" at a time
    text = tok("Write a note", add_special_tokens=False)["input_ids"]
    assert check.finished([text, text + split[:2], text + split, text + [tok.eos_token_id]]) == [
        False,
        False,
        True,
        True,
    ]


def test_choose_greedy_and_nucleus():
    logits = torch.tensor([[0.0, 5.0, 1.0, -2.0], [3.0, 0.0, 0.0, 0.0]])
    assert choose(logits, True, 1.0, 1.0, torch.zeros(2)).tolist() == [1, 0]
    # top_p 0.5 keeps only the most likely token of each row, whatever the draw
    for u in (0.0, 0.3, 0.99):
        assert choose(logits, False, 1.0, 0.5, torch.full((2,), u)).tolist() == [1, 0]
    # the draw picks by the cumulative distribution: u near 1 reaches the unlikely tail
    flat = torch.zeros(1, 4)
    assert [choose(flat, False, 1.0, 1.0, torch.tensor([u])).item() for u in (0.1, 0.3, 0.6, 0.9)] == [0, 1, 2, 3]

"""The relevance score (all-MiniLM-L6-v2, shipped as a wheel) and best-of-K selection."""

from backtranslate.filters import FilterStats, apply_filters
from backtranslate.filters.relevance import EmbeddingRelevance, Relevance
from backtranslate.filters.selection import BestOfK
from backtranslate.records import Record

PASSAGE = (
    "## Configuring the cache\n\nSet `ttl` in the `[cache]` table to the number of seconds a result is kept; "
    "entries are evicted oldest first when `size` entries are stored."
)
MATCHING = "Explain how to configure the lifetime and size of the result cache."
MISMATCHED = "Write a short email to my manager asking for next Friday off."


def test_a_matching_instruction_scores_above_a_mismatched_one():
    scorer = EmbeddingRelevance()
    good, bad = scorer.score(
        [
            Record(output=PASSAGE, instruction=MATCHING, meta={"passage_id": "p"}),
            Record(output=PASSAGE, instruction=MISMATCHED, meta={"passage_id": "p"}),
        ]
    )
    assert good > 0.3 > bad


def test_a_reply_is_scored_against_the_message_it_answers_too():
    parent = "Subject: [PATCH] cache: evict the oldest entries first\n\n" + PASSAGE
    reply = "Looks good to me, applied. Thanks for the quick turnaround."
    asked = "Reply to the patch below that makes the result cache evict its oldest entries first."
    scorer = EmbeddingRelevance()
    (alone,) = scorer.score([Record(output=reply, instruction=asked, meta={"passage_id": "r"})])
    (threaded,) = scorer.score([Record(output=reply, input=parent, instruction=asked, meta={"passage_id": "t"})])
    # The instruction names the parent, not the reply's words: only the input shows they match.
    assert threaded > 0.28 > alone
    (unrelated,) = scorer.score([Record(output=reply, input=parent, instruction=MISMATCHED, meta={"passage_id": "t"})])
    assert unrelated < 0.28


def test_the_relevance_filter_records_scores_and_drops_below_its_threshold():
    pairs = [
        Record(output=PASSAGE, instruction=MATCHING, id="a"),
        Record(output=PASSAGE, instruction=MISMATCHED, id="b"),
    ]
    stats, rejects = FilterStats(), []
    kept = list(apply_filters(pairs, [Relevance(threshold=0.2)], stats, on_reject=rejects.append))
    assert [r.id for r in kept] == ["a"] and kept[0].meta["relevance"] > 0.2
    assert rejects[0].meta["reject_reason"].startswith("relevance: embedding score")


def _candidate(passage, index, score, instruction="x"):
    return Record(
        output=passage,
        instruction=f"{instruction} {index}",
        id=f"{passage}-{index}",
        meta={"passage_id": passage, "candidate": index, "relevance": score},
    )


def test_best_of_k_keeps_the_best_scoring_passing_candidate_of_each_passage():
    # Candidate 1 of passage "p" failed an earlier filter, so only 0, 2 and 3 reach the selection.
    arriving = [
        _candidate("p", 0, 0.31),
        _candidate("p", 2, 0.52),
        _candidate("p", 3, 0.40),
        _candidate("q", 0, 0.25),
        _candidate("q", 1, 0.25),
    ]
    stats, rejects = FilterStats(), []
    kept = list(apply_filters(arriving, [BestOfK()], stats, on_reject=rejects.append))
    assert [r.id for r in kept] == ["p-2", "q-0"]  # a tie goes to the earlier candidate
    assert stats.dropped["best_of_k"] == 3
    assert rejects[0].meta["reject_reason"] == "best_of_k: candidate 2 of this passage scored higher (0.52 > 0.31)"


def test_generate_scores_and_selects_before_the_dataset_wide_deduplication():
    from backtranslate.config import GenerateConfig
    from backtranslate.generate import pair_filters

    names = [f.name for f in pair_filters(GenerateConfig(num_candidates=4), [])]
    assert names.index("relevance") < names.index("best_of_k") < names.index("exact_duplicate")
    assert "best_of_k" not in [f.name for f in pair_filters(GenerateConfig(num_candidates=1), [])]
    assert "relevance" not in [f.name for f in pair_filters(GenerateConfig(relevance=False), [])]

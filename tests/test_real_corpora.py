"""Passage hygiene on real public corpora nobody here wrote (benchmarks/real_corpora_data.py
rebuilds them from pinned commits; without a mirror or network these tests skip).

No model runs here: the corpora are read, threaded, cut and passed through the default passage
filters, and what survives must pass the automatic junk checks the benchmark reports."""

import sys
from collections import Counter
from pathlib import Path

import pytest

from backtranslate.filters import FilterStats, apply_filters, default_passage_filters
from backtranslate.filters.junk import junk
from backtranslate.passages import segment_all
from backtranslate.readers.corpus import ReadStats, read_corpus
from backtranslate.threads import ThreadStats, thread_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_corpora_data  # noqa: E402
from test_hygiene import _Meter  # noqa: E402


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    import os

    os.environ.setdefault(real_corpora_data.OFFLINE_ENV, "1")  # tests never reach for the network
    try:
        return real_corpora_data.build(tmp_path_factory.mktemp("real-corpora"))
    except real_corpora_data.CorpusUnavailable as e:
        pytest.skip(f"real corpora unavailable: {e}")


def _survivors(folder: Path):
    stats = ReadStats()
    docs = list(thread_records(read_corpus(str(folder), stats=stats), ThreadStats()))
    passages = list(segment_all(docs, _Meter(), 16, 250))  # ~250 words: about the default 384 tokens
    filter_stats = FilterStats()
    kept = list(apply_filters(passages, default_passage_filters(), filter_stats))
    return stats, passages, kept, filter_stats


@pytest.mark.parametrize("name", ["mail", "docs", "web"])
def test_what_survives_hygiene_on_real_corpora_is_not_junk(corpora, name):
    stats, passages, kept, _ = _survivors(corpora[name])
    flagged = Counter(check for p in kept for check in junk(p.output))
    # Web pages keep their opening passage (later pieces continue it): about one a page. Cut before
    # their subheadings, pages give more (smaller) passages: 43 kept of 174 on this split.
    assert len(kept) >= (0.2 if name == "web" else 0.25) * len(passages) and len(kept) >= 40
    assert sum(bool(junk(p.output)) for p in kept) <= 0.05 * len(kept), flagged
    assert not flagged["diff_hunk"] and not flagged["open_fence"]


def test_real_mail_loses_trailers_quotes_and_whole_patches_are_never_cut(corpora):
    stats, passages, kept, filter_stats = _survivors(corpora["mail"])
    assert stats.cleaned["trailers"] > 50 and stats.cleaned["quoted_lines"] > 500
    assert not any("Signed-off-by:" in p.output for p in kept)
    patches = [p for p in passages if p.meta.get("patch")]
    assert patches and all(p.meta["start"] == 0 for p in patches)  # one passage per patch mail
    assert filter_stats.dropped["standalone"] > 0


def test_real_docs_lose_front_matter_directives_and_tags(corpora):
    stats, passages, kept, _ = _survivors(corpora["docs"])
    assert stats.cleaned["front_matter"] >= 10 and stats.cleaned["template_directives"] >= 20
    assert stats.cleaned["html_tags"] >= 50
    assert any(p.meta.get("headings") for p in kept)
    # mdBook's includes go everywhere; Jekyll's docs quote Liquid tags in inline code on purpose.
    assert not any("{{#include" in p.output or "{{#rustdoc_include" in p.output for p in kept)

"""Stage: cut documents into passages of min..max tokens, along paragraphs and headings.

A passage is a Record whose ``output`` is an exact slice ``doc.output[start:end]`` of its
document (and whose ``input`` is the document's input, such as the e-mail a reply answers), so provenance offsets can always be checked against the source text. The tokenizer is
only ever given bounded pieces of text, so a 50 MB single-line file costs one linear pass and
bounded memory, not a tokenization of the whole line at once.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from .records import Record, stable_id

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n+")
_HEADING = re.compile(r"^(#{1,6} |[A-Z][^\n]{0,80}\n[=-]{3,}$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Tokens longer than this many characters are rare, so max_tokens * this many characters hold
# more than max_tokens tokens: the window a tokenizer call needs to see.
_CHARS_PER_TOKEN = 16

Span = tuple[int, int]


class TokenMeter:
    """Token counts and token offsets from the model's own (fast) tokenizer, on bounded text."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

    def over(self, text: str, limit: int) -> bool:
        """More than ``limit`` tokens? Reads windows of the text only until the answer is known."""
        if len(text) <= limit:  # every token is at least one character
            return False
        seen, window = 0, limit * _CHARS_PER_TOKEN
        for start in range(0, len(text), window):
            seen += self.count(text[start:start + window])
            if seen > limit:
                return True
        return False


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _spans(text: str, pattern: re.Pattern, start: int = 0, end: int | None = None) -> list[Span]:
    """(start, end) of the non-blank pieces of ``text[start:end]`` between matches of ``pattern``."""
    end = len(text) if end is None else end
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        spans.append(_trim(text, pos, m.start()))
        pos = m.end()
    spans.append(_trim(text, pos, end))
    return [s for s in spans if s[0] < s[1]]


def _cut_by_tokens(text: str, start: int, end: int, meter: TokenMeter, max_tokens: int) -> list[Span]:
    """A sentence over max_tokens, cut every max_tokens tokens, one bounded window at a time."""
    pieces, pos, width = [], start, max_tokens * 6  # ~6 characters a token in prose; grows if not
    while pos < end:
        window_end = min(end, pos + width)
        offsets = meter.offsets(text[pos:window_end])
        if len(offsets) <= max_tokens and window_end < end and width < max_tokens * _CHARS_PER_TOKEN:
            width *= 2
            continue
        if len(offsets) <= max_tokens:
            cut = window_end
        else:
            cut = pos + offsets[max_tokens - 1][1]
        piece = _trim(text, pos, cut)
        if piece[0] < piece[1]:
            pieces.append(piece)
        pos = max(cut, pos + 1)
    return pieces


def _pack(text: str, spans: list[Span], meter: TokenMeter, max_tokens: int, headings: set[int]) -> list[Span]:
    """Greedily join consecutive spans while they fit; a heading starts a new passage.

    Each span's count is known, so only joins that might fit are counted again (joining
    changes a count by a token or two at the seam)."""
    out: list[Span] = []
    cur, cur_n = None, 0
    for s, e in spans:
        n = meter.count(text[s:e])
        if cur and s not in headings and cur_n + n <= max_tokens + 2:
            joined = meter.count(text[cur[0]:e])
            if joined <= max_tokens:
                cur, cur_n = (cur[0], e), joined
                continue
        if cur:
            out.append(cur)
        cur, cur_n = (s, e), n
    if cur:
        out.append(cur)
    return out


def _merge_short_tail(text: str, spans: list[Span], meter: TokenMeter, min_tokens: int, max_tokens: int) -> list[Span]:
    """A passage under min_tokens joins its predecessor when together they still fit."""
    out: list[Span] = []
    for s, e in spans:
        if out and meter.count(text[s:e]) < min_tokens and not meter.over(text[out[-1][0]:e], max_tokens):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _split_block(text: str, start: int, end: int, meter: TokenMeter, max_tokens: int) -> list[Span]:
    """A paragraph over max_tokens: its sentences, an over-long sentence cut by tokens, packed."""
    pieces: list[Span] = []
    for s, e in _spans(text, _SENTENCE_END, start, end):
        long_sentence = meter.over(text[s:e], max_tokens)
        pieces.extend(_cut_by_tokens(text, s, e, meter, max_tokens) if long_sentence else [(s, e)])
    return _pack(text, pieces, meter, max_tokens, set())


def segment(doc: Record, meter: TokenMeter, min_tokens: int = 32, max_tokens: int = 512) -> Iterator[Record]:
    """Passages of ``doc`` between min and max tokens; a document that fits is kept whole."""
    text = doc.output
    whole = _trim(text, 0, len(text))
    if whole[0] == whole[1]:
        return
    if not meter.over(text[whole[0]:whole[1]], max_tokens):
        spans = [whole]
    else:
        blocks: list[Span] = []
        headings = set()
        for s, e in _spans(text, _BLOCK_BREAK):
            if _HEADING.match(text[s:min(e, s + 200)]):  # a heading line is short; never copy a huge block
                headings.add(s)
            blocks.extend(_split_block(text, s, e, meter, max_tokens) if meter.over(text[s:e], max_tokens) else [(s, e)])
        spans = _merge_short_tail(text, _pack(text, blocks, meter, max_tokens, headings), meter, min_tokens, max_tokens)
    context = _head(doc.input, meter, max_tokens) if doc.input else ""
    extra = {"input_truncated": True} if len(context) < len(doc.input) else {}
    for i, (s, e) in enumerate(spans):
        yield Record(output=text[s:e], input=context, id=stable_id(doc.id, str(s), str(e)),
                     meta={**doc.meta, "doc": doc.id, "passage": i, "start": s, "end": e, **extra})


def _head(text: str, meter: TokenMeter, max_tokens: int) -> str:
    """A document's input (the e-mail a reply answers) kept to its first max_tokens tokens, so the
    prompt stays bounded; every passage of the reply shares it."""
    if not meter.over(text, max_tokens):
        return text
    offsets = meter.offsets(text[:max_tokens * _CHARS_PER_TOKEN])
    return text[:offsets[max_tokens - 1][1]].rstrip()


def segment_all(docs: Iterable[Record], meter: TokenMeter, min_tokens: int, max_tokens: int) -> Iterator[Record]:
    for doc in docs:
        yield from segment(doc, meter, min_tokens, max_tokens)

"""Stage: cut documents into passages of min..max tokens, along paragraphs and headings.

A passage is a Record whose ``output`` is an exact slice ``doc.output[start:end]`` of its
document, so provenance offsets can always be checked against the source text.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from .records import Record, stable_id

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n+")
_HEADING = re.compile(r"^(#{1,6} |[A-Z][^\n]{0,80}\n[=-]{3,}$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _spans(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    """(start, end) of the non-empty pieces of ``text`` between matches of ``pattern``."""
    spans, pos = [], 0
    for m in pattern.finditer(text):
        if text[pos:m.start()].strip():
            spans.append((pos, m.start()))
        pos = m.end()
    if text[pos:].strip():
        spans.append((pos, len(text)))
    return [_trim(text, s, e) for s, e in spans]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, meter: "TokenMeter", max_tokens: int
                ) -> list[tuple[int, int]]:
    """A block over max_tokens: pack its sentences; a sentence over max_tokens is cut every
    max_tokens tokens (one tokenizer call, so even a 50 MB line is cut in linear time)."""
    out: list[tuple[int, int]] = []
    for s, e in [(start + s, start + e) for s, e in _spans(text[start:end], _SENTENCE_END)]:
        if e - s <= max_tokens or meter.count(text[s:e]) <= max_tokens:
            out.append((s, e))
            continue
        offsets = meter.offsets(text[s:e])
        for i in range(0, len(offsets), max_tokens):
            piece = _trim(text, s + offsets[i][0], s + offsets[min(i + max_tokens, len(offsets)) - 1][1])
            if piece[0] < piece[1]:
                out.append(piece)
    return _pack(text, out, meter, max_tokens, set())


def _pack(text: str, blocks: list[tuple[int, int]], meter: "TokenMeter", max_tokens: int,
          headings: set[int]) -> list[tuple[int, int]]:
    """Greedily join consecutive blocks while they fit; a heading starts a new passage."""
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e in blocks:
        if cur and s not in headings and meter.count(text[cur[0]:e]) <= max_tokens:
            cur = (cur[0], e)
            continue
        if cur:
            out.append(cur)
        cur = (s, e)
    if cur:
        out.append(cur)
    return out


def segment(doc: Record, meter: "TokenMeter", min_tokens: int = 32, max_tokens: int = 512
            ) -> Iterator[Record]:
    """Passages of ``doc`` between min and max tokens; a document that fits is kept whole."""
    text = doc.output
    whole = _trim(text, 0, len(text))
    if whole[0] == whole[1]:
        return
    # A token is at least one character, so a short text needs no tokenizer call to fit.
    if whole[1] - whole[0] <= max_tokens or (len(text) < 50 * max_tokens and meter.count(text[whole[0]:whole[1]]) <= max_tokens):
        spans = [whole]
    else:
        blocks: list[tuple[int, int]] = []
        headings = set()
        for s, e in _spans(text, _BLOCK_BREAK):
            if _HEADING.match(text[s:e]):
                headings.add(s)
            long_block = e - s > max_tokens and meter.count(text[s:e]) > max_tokens
            blocks.extend(_split_long(text, s, e, meter, max_tokens) if long_block else [(s, e)])
        spans = _merge_short_tail(text, _pack(text, blocks, meter, max_tokens, headings), meter, min_tokens, max_tokens)
    for i, (s, e) in enumerate(spans):
        yield Record(output=text[s:e], id=stable_id(doc.id, str(s), str(e)),
                     meta={**doc.meta, "doc": doc.id, "passage": i, "start": s, "end": e})


def _merge_short_tail(text: str, spans: list[tuple[int, int]], meter: "TokenMeter",
                      min_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """A passage under min_tokens joins its predecessor when together they still fit."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and meter.count(text[s:e]) < min_tokens and meter.count(text[out[-1][0]:e]) <= max_tokens:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def segment_all(docs: Iterable[Record], meter: "TokenMeter", min_tokens: int, max_tokens: int
                ) -> Iterator[Record]:
    for doc in docs:
        yield from segment(doc, meter, min_tokens, max_tokens)


class TokenMeter:
    """Token counts and token character offsets from the model's own (fast) tokenizer."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

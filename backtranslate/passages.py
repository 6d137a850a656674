"""Stage: cut documents into passages of min..max tokens, along paragraphs and headings.

A passage is a Record whose ``output`` is an exact slice ``doc.output[start:end]`` of its
document (and whose ``input`` is the document's input, such as the e-mail a reply answers), so provenance offsets can always be checked against the source text. The tokenizer is
only ever given bounded pieces of text, so a 50 MB single-line file costs one linear pass and
bounded memory, not a tokenization of the whole line at once.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from .records import Record, stable_id

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n+")
_LINE_BREAK = re.compile(r"\n")
_HEADING = re.compile(r"^(#{1,6} |[A-Z][^\n]{0,80}\n[=-]{3,}$)")
_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^([=-])\1{2,}[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A subheading line of extracted web text: opens with a capital or digit, no sentence or clause
# punctuation inside or at its end, no list bullet.
_TITLE_LINE = re.compile(r"^[A-Z0-9][^.!?:;,…\n]*[^.!?:;,…\s\"”’')\]]$")
# Formats whose "#" lines are headings (in plain text and mail they may be anything).
_MARKDOWN_FORMATS = frozenset({"md", "txt"})
# Tokens longer than this many characters are rare, so max_tokens * this many characters hold
# more than max_tokens tokens: the window a tokenizer call needs to see.
_CHARS_PER_TOKEN = 16

Span = tuple[int, int]


class TokenMeter:
    """Token counts and token offsets from the model's own (fast) tokenizer, on bounded text."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        # A fast tokenizer's Rust engine, called directly: the transformers wrapper converts each
        # encoding to Python lists first, which took more time than the encoding itself on long
        # single-line text (benchmarks/huge_line.py). Same tokens: it is the same engine.
        self._engine = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None

    def count(self, text: str) -> int:
        if self._engine is not None:
            return len(self._engine.encode(text, add_special_tokens=False))
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def counts(self, texts: list[str]) -> list[int]:
        """Many counts in one tokenizer call (a fast tokenizer encodes a batch in parallel)."""
        if not texts:
            return []
        if self._engine is not None:
            return [len(e) for e in self._engine.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

    def over(self, text: str, limit: int) -> bool:
        """More than ``limit`` tokens? Reads windows of the text only until the answer is known."""
        if len(text) <= limit:  # every token is at least one character
            return False
        seen, window = 0, limit * _CHARS_PER_TOKEN
        for start in range(0, len(text), window):
            seen += self.count(text[start : start + window])
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


def _fences(text: str) -> list[Span]:
    """(start, end) of each fenced code block, fences included; an unclosed one runs to the end."""
    spans, pos, opened, marker = [], 0, -1, ""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if opened < 0 and m:
            opened, marker = pos, m.group(1)
        elif opened >= 0 and m and m.group(1)[0] == marker[0] and len(m.group(1)) >= len(marker):
            spans.append((opened, pos + len(line)))
            opened = -1
        pos += len(line) + 1
    if opened >= 0:
        spans.append((opened, len(text)))
    return spans


def _blocks(text: str, fences: list[Span]) -> list[tuple[int, int, bool]]:
    """Paragraphs between blank lines as (start, end, is_code); a fenced code block is one block
    however many blank lines it holds, so code is never cut in the middle."""
    blocks: list[tuple[int, int, bool]] = []
    pos = 0
    for fs, fe in fences + [(len(text), len(text))]:
        blocks.extend((s, e, False) for s, e in _spans(text, _BLOCK_BREAK, pos, fs))
        if fs < fe:
            blocks.append((*_trim(text, fs, fe), True))
        pos = fe
    return [b for b in blocks if b[0] < b[1]]


def heading_marks(text: str, fences: list[Span]) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each Markdown heading outside code, ATX ("## Title") or setext."""
    marks, pos, previous = [], 0, ""
    inside = lambda at: any(s <= at < e for s, e in fences)  # noqa: E731
    for line in text.split("\n"):
        if not inside(pos):
            atx = _ATX.match(line)
            if atx:
                marks.append((pos, len(atx.group(1)), atx.group(2).strip()))
            elif _SETEXT.match(line) and previous.strip() and not previous.startswith(("-", "*", " ")):
                start = pos - len(previous) - 1
                marks.append((start, 1 if line.strip()[0] == "=" else 2, previous.strip()))
        previous = line
        pos += len(line) + 1
    return marks


def headings_in(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each Markdown heading of ``text`` outside its code blocks."""
    return heading_marks(text, _fences(text))


def heading_path(marks: list[tuple[int, int, str]], at: int) -> list[str]:
    """The titles of the sections that hold offset ``at``, outermost first."""
    path: list[tuple[int, str]] = []
    for offset, level, name in marks:
        if offset > at:
            break
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, name))
    return [name for _, name in path]


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

    The spans and the gaps between them are counted in one batched call. A join whose bound
    (the parts' counts, the gap's, and a token per seam for merges that split differently) fits
    needs no count of its own; only joins near max_tokens are counted exactly. A 50 MB line of
    short sentences took ~4 million tokenizer calls when every join was counted, now one per
    passage or two."""
    if not spans:
        return []
    counts = meter.counts([text[s:e] for s, e in spans])
    gaps = meter.counts([text[a[1] : b[0]] for a, b in zip(spans, spans[1:])])
    out: list[Span] = []
    cur, bound, exact = spans[0], counts[0], True  # bound: the current passage's count or more
    for k in range(1, len(spans)):
        s, e = spans[k]
        if s not in headings:
            if bound + gaps[k - 1] + counts[k] + 1 <= max_tokens:
                cur, bound, exact = (cur[0], e), bound + gaps[k - 1] + counts[k] + 1, False
                continue
            if not exact:
                bound, exact = meter.count(text[cur[0] : cur[1]]), True
            if bound + counts[k] <= max_tokens + 2:  # joining changes a count by a token or two at the seam
                joined = meter.count(text[cur[0] : e])
                if joined <= max_tokens:
                    cur, bound = (cur[0], e), joined
                    continue
        out.append(cur)
        cur, bound, exact = (s, e), counts[k], True
    out.append(cur)
    return out


def _merge_short_tail(text: str, spans: list[Span], meter: TokenMeter, min_tokens: int, max_tokens: int) -> list[Span]:
    """A passage under min_tokens joins its predecessor when together they still fit."""
    out: list[Span] = []
    for s, e in spans:
        if out and meter.count(text[s:e]) < min_tokens and not meter.over(text[out[-1][0] : e], max_tokens):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _intro_with_block(
    text: str, spans: list[Span], blocks: list[Span], meter: TokenMeter, max_tokens: int, oversized: Iterable[int]
) -> list[Span]:
    """A passage whose last block ends on a colon ("... there are two ways:") while what it
    introduces opens the next passage hands that block over, when the next passage still fits
    with it (or is an oversized code block that goes whole anyway). Cut there, the first passage
    ended on a promise it did not keep (the blind reads called 19 of 24 such pairs unusable) and
    the code or list after it lost its introduction."""
    starts = [s for s, _ in blocks]  # in order: blocks are cut left to right
    out = list(spans)
    for i in range(len(out) - 1):
        (a0, a1), (b0, b1) = out[i], out[i + 1]
        # Spans are trimmed, so their last character is their last visible one.
        if text[a1 - 1] != ":" or _HEADING.match(text[b0 : b0 + 200]):
            continue
        k = bisect_left(starts, a1) - 1  # the passage's last block...
        last = starts[k] if k >= 0 else a0
        if last <= a0:  # ...unless that is its first: then there is nothing to hand on
            continue
        if b0 in oversized or not meter.over(text[last:b1], max_tokens):
            out[i], out[i + 1] = _trim(text, a0, last), (last, b1)
    return out


def _heading_to_next(
    text: str, spans: list[Span], meter: TokenMeter, max_tokens: int, heading, hand_on: bool = True
) -> list[Span]:
    """A passage that ends on its next part's heading (web: "2. Never urged Ukraine to ...", "___"
    and "HOW WILL OBAMA PLAY?"; docs: "## Ways to contribute") hands those lines to the passage
    they head (``hand_on``), or leaves them out where that would no longer fit or no passage
    follows. Readers called such endings a fragment (stop 33, RESULTS)."""
    out = list(spans)
    for i in range(len(out)):
        a0, a1 = out[i]
        end, moved = a1, a1  # this passage's new end; where the lines handed on start
        while True:
            line_start = text.rfind("\n", a0, end) + 1
            if line_start <= a0 or not heading(text[line_start:end].strip()):
                break
            moved, end = line_start, len(text[a0:line_start].rstrip()) + a0
        if moved == a1:
            continue
        out[i] = _trim(text, a0, end)
        if hand_on and i + 1 < len(out) and not meter.over(text[moved : out[i + 1][1]], max_tokens):
            out[i + 1] = (moved, out[i + 1][1])
    return out


def _atx_line(line: str) -> bool:
    return bool(_ATX.match(line))


def _subheading(line: str) -> bool:
    """A line of extracted web text that heads what follows it: a title line, a numbered one
    ("2. Never urged ..."), one in capitals ("HOW WILL OBAMA PLAY?") or a rule ("___")."""
    words = line.split()
    if not words:
        return False
    if re.fullmatch(r"[_*=-]{3,}", line):
        return True
    if re.match(r"\d{1,2}[.)] [A-Z]", line) and len(words) <= 12 and not line.endswith("."):
        return True
    if len(words) <= 8 and line.upper() == line and re.search(r"[A-Z]{3}", line) and not line.endswith("."):
        return True
    return _title_line(line)


def _title_line(line: str) -> bool:
    """A line of extracted web text that reads as a subheading: a few words, capitalized, not a
    sentence (no closing punctuation) and not a list item ("Module efficiency", "Straight outta
    Helgen")."""
    words = line.split()
    return 0 < len(words) <= 8 and bool(_TITLE_LINE.match(line.strip()))


def _split_block(
    text: str, start: int, end: int, meter: TokenMeter, max_tokens: int, mid_sentence: set[int], titles: bool = False
) -> list[Span]:
    """A paragraph over max_tokens: its lines (extracted web text puts one paragraph on each),
    then a long line's sentences, then an over-long sentence cut by tokens, packed. The start of
    every piece cut inside a sentence goes into ``mid_sentence``: such a passage cannot stand alone.

    ``titles`` (extracted web text, whose subheadings are plain lines): a cut falls before a line
    that reads as a subheading rather than after it. A page cut after "Domestic industry" gave a
    passage that ended on a heading with nothing under it, and the blind read called it a fragment."""
    pieces: list[Span] = []
    headings: set[int] = set()
    for ls, le in _spans(text, _LINE_BREAK, start, end):
        if titles and ls > start and _title_line(text[ls:le]):
            headings.add(ls)
        if not meter.over(text[ls:le], max_tokens):
            pieces.append((ls, le))
            continue
        for s, e in _spans(text, _SENTENCE_END, ls, le):
            if meter.over(text[s:e], max_tokens):
                cut = _cut_by_tokens(text, s, e, meter, max_tokens)
                mid_sentence.update(p[0] for p in cut[1:])
                pieces.extend(cut)
            else:
                pieces.append((s, e))
    return _pack(text, pieces, meter, max_tokens, headings)


def segment(doc: Record, meter: TokenMeter, min_tokens: int = 32, max_tokens: int = 512) -> Iterator[Record]:
    """Passages of ``doc`` between min and max tokens; a document that fits is kept whole.

    Cuts fall between paragraphs and before headings, never inside a fenced code block or a
    patch: a code block or patch mail over max_tokens becomes one passage marked ``oversized``
    (the standalone filter drops it with that reason). Each passage carries the path of the
    headings above it (``headings``), and ``mid_sentence`` when it had to start inside a sentence.
    """
    text = doc.output
    whole = _trim(text, 0, len(text))
    if whole[0] == whole[1]:
        return
    fences = _fences(text)
    oversized: dict[int, str] = {}
    mid_sentence: set[int] = set()
    if not meter.over(text[whole[0] : whole[1]], max_tokens):
        spans = [whole]
    elif doc.meta.get("patch"):  # a patch is one unit with its description: never cut into hunks
        spans, oversized[whole[0]] = [whole], "patch"
    else:
        blocks: list[Span] = []
        headings = set()
        titles = doc.meta.get("format") == "html"
        for s, e, code in _blocks(text, fences):
            if _HEADING.match(text[s : min(e, s + 200)]):  # a heading line is short; never copy a huge block
                headings.add(s)
            if not meter.over(text[s:e], max_tokens):
                blocks.append((s, e))
            elif code:
                blocks.append((s, e))
                oversized[s] = "code block"
            else:
                blocks.extend(_split_block(text, s, e, meter, max_tokens, mid_sentence, titles))
        spans = _merge_short_tail(text, _pack(text, blocks, meter, max_tokens, headings), meter, min_tokens, max_tokens)
        spans = _intro_with_block(text, spans, blocks, meter, max_tokens, set(oversized))
    ends = {"html": _subheading, "md": _atx_line}.get(doc.meta.get("format"))
    if ends and not doc.meta.get("patch"):
        # A Markdown heading is in the heading path of the passages under it, so it is left out,
        # not handed on: handed on, it would open the next section's passage as a second heading.
        spans = _heading_to_next(text, spans, meter, max_tokens, ends, hand_on=ends is _subheading)
    context = _context(doc.input, meter, max_tokens, doc.meta.get("quoted_at") or 0) if doc.input else ""
    extra = {"input_truncated": True} if len(context) < len(doc.input) else {}
    marks = heading_marks(text, fences) if doc.meta.get("format") in _MARKDOWN_FORMATS else []
    for i, (s, e) in enumerate(spans):
        meta = {**doc.meta, "doc": doc.id, "passage": i, "start": s, "end": e, **extra}
        # The next passage goes on with what this one started (no heading opens it): a section
        # cut before its end, an article's opening. Read by the standalone filter and --prime.
        if i + 1 < len(spans) and not _HEADING.match(text[spans[i + 1][0] : spans[i + 1][0] + 200]):
            meta["continued"] = True
        if len(spans) == 1 and doc.meta.get("format") == "md":
            meta["whole_page"] = True  # a docs page short enough to be one passage: --prime asks for the page
        path = heading_path(marks, s)
        if path:
            meta["headings"] = path
        elif marks and i == 0 and len(spans) > 1 and not meta.get("continued"):
            # The text above a page's first heading, cut apart from the sections under it: a
            # page's intro ("Layouts are templates that ..."). Read by the standalone filter.
            meta["intro"] = True
        big = next((why for at, why in oversized.items() if s <= at < e), None)
        if big:
            meta["oversized"] = big
        if s in mid_sentence:
            meta["mid_sentence"] = True
        yield Record(output=text[s:e], input=context, id=stable_id(doc.id, str(s), str(e)), meta=meta)


def _head(text: str, meter: TokenMeter, max_tokens: int) -> str:
    """A document's input (the e-mail a reply answers) kept to its first max_tokens tokens, so the
    prompt stays bounded; every passage of the reply shares it."""
    if not meter.over(text, max_tokens):
        return text
    offsets = meter.offsets(text[: max_tokens * _CHARS_PER_TOKEN])
    return text[: offsets[max_tokens - 1][1]].rstrip()


QUOTE_LEAD = 3  # lines kept above the first line a reply quotes: what leads up to it


def _context(text: str, meter: TokenMeter, max_tokens: int, quoted_at: int) -> str:
    """A reply's input over max_tokens: from the lines it quotes (threads.quote_match), under the
    parent's subject line, where the quote is past the part its head would keep. Replies whose
    parent was cut at its head were 14% unusable in stop 31's reads ("Same.", a comment on an
    "== 0" the input does not show), those with the whole parent 5%."""
    head = _head(text, meter, max_tokens)
    lines = text.split("\n")
    if len(head) == len(text) or quoted_at <= 0 or len("\n".join(lines[: quoted_at + 1])) <= len(head):
        return head
    subject = lines[0] + "\n\n[...]\n" if lines[0].startswith("Subject: ") else "[...]\n"
    start = max(quoted_at - QUOTE_LEAD, 1 if subject.startswith("Subject") else 0)
    return _head(subject + "\n".join(lines[start:]).lstrip("\n"), meter, max_tokens)


def segment_all(docs: Iterable[Record], meter: TokenMeter, min_tokens: int, max_tokens: int) -> Iterator[Record]:
    for doc in docs:
        yield from segment(doc, meter, min_tokens, max_tokens)

"""The automatic junk checks: what a reader of real-corpus output throws away at a glance.

On real mail, docs and web pages most kept outputs that a blind reader called unusable were one
of four things: a diff hunk without the description of its patch, markup or template noise,
a code block cut open, or a passage that starts in the middle of a sentence or of code. Each
check is a pure function of the text, so the passage filters, the real-corpus benchmark and the
tests all apply the same definition.
"""

from __future__ import annotations

import re
from typing import Callable

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})", re.M)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", re.M)
_DIFF_LINE = re.compile(r"^(?:diff --git |index [0-9a-f]{6,}\.\.|--- (?:a/|/dev/null)|\+\+\+ (?:b/|/dev/null)|@@ "
                        r"|[+-](?![-+]{2}\s)|\\ No newline)")
_HEADER = re.compile(r"^diff --git |^--- \S.*\n\+\+\+ \S", re.M)
_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s+[^<>]*?)?/?>")
_DIRECTIVE = re.compile(r"\{%-?.*?-?%\}|\{\{[<%#].*?\}\}|^\s*\{:[^}]*\}\s*$", re.S | re.M)
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(?:[\w-]+\s*[:=].*\n)+")
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")  # as redact.PLACEHOLDER writes them
_ENTITY = re.compile(r"&(?:[a-z]{2,8}|#\d{2,5});")
# Lowercase openings that are whole sentences: commands and identifiers written lowercase on purpose.
_LOWER_OK = re.compile(r"^(?:[a-z][\w.-]*\(|[a-z]+[A-Z]\w*|e\.g\.|i\.e\.|iOS|iPhone|iPad|eBay|macOS|npm|pip|git)\b")
_CONTINUATION = re.compile(r"^(?:[,;:.)\]}]|\.\.\.|…|and |or |but |which |that |so |then )")
_CODE_CONTINUATION = re.compile(r"^(?:[)\]}]+[;,)]*\s*$|[)\]}]\s*(?:else|catch|finally|while)\b|\s*(?:\|\||&&)\s*\w)")


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def _outside_fences(text: str) -> str:
    """The text with fenced code blocks removed: markup inside code is content."""
    out, fence = [], ""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = ""
            continue
        if m:
            fence = m.group(1)
            continue
        out.append(line)
    return "\n".join(out)


def diff_hunk(text: str) -> bool:
    """Diff lines without the patch's description in front: a hunk cut from a patch mail, or a
    passage that is mostly ``+``/``-`` lines."""
    lines = _lines(text)
    if not lines:
        return False
    starts_with_diff = bool(_DIFF_LINE.match(lines[0])) and (_HUNK.search(text) is not None
                                                             or lines[0].startswith(("diff --git", "+", "-")))
    if starts_with_diff and (_HUNK.search(text) or sum(bool(_DIFF_LINE.match(x)) for x in lines) >= 3):
        return True
    if _HEADER.search(text):  # prose first, then a whole diff: a patch with its description
        return False
    diff_lines = sum(bool(_DIFF_LINE.match(x)) and not re.match(r"^[-+] \w", x) for x in lines)
    return len(lines) >= 4 and diff_lines / len(lines) > 0.5


def markup(text: str) -> bool:
    """HTML tags, template directives, front matter or entities left in the prose (not in code)."""
    prose = _PLACEHOLDER.sub(" ", _outside_fences(text))  # redaction's <PERSON_1> is not a tag
    if _FRONT_MATTER.match(prose.lstrip()) or _DIRECTIVE.search(prose):
        return True
    return len(_TAG.findall(prose)) >= 2 or len(_ENTITY.findall(prose)) >= 3


def open_fence(text: str) -> bool:
    """A code fence opened and never closed (or closed and never opened): code cut in half."""
    fence, count = "", 0
    for m in _FENCE.finditer(text):
        marker = m.group(1)
        if not fence:
            fence, count = marker, count + 1
        elif marker[0] == fence[0] and len(marker) >= len(fence):
            fence = ""
    return bool(fence)


def mid_sentence(text: str) -> bool:
    """The passage starts inside a sentence or inside code: lowercase prose, a continuation word
    or punctuation, a closing bracket."""
    lines = _lines(text)
    if not lines:
        return False
    first = lines[0].lstrip()
    if _CONTINUATION.match(first) or _CODE_CONTINUATION.match(first):
        return True
    if first[:1].islower() and not _LOWER_OK.match(first):
        # A lowercase line that reads as prose (several words, ends like a sentence or runs on).
        return len(first.split()) >= 3 and not first.rstrip().endswith((":", "{", "(", "\\"))
    return False


CHECKS: dict[str, Callable[[str], bool]] = {
    "diff_hunk": diff_hunk, "markup": markup, "open_fence": open_fence, "mid_sentence": mid_sentence,
}


def junk(text: str) -> list[str]:
    """The names of the checks a text fails, in the order of CHECKS; [] for a clean text."""
    return [name for name, check in CHECKS.items() if check(text)]

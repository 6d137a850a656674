"""The automatic junk checks: what a reader of real-corpus output throws away at a glance.

On real mail, docs and web pages most kept outputs that a blind reader called unusable were one
of four things: a diff hunk without the description of its patch, markup or template noise,
a code block cut open, or a passage that starts in the middle of a sentence or of code. Once
those went, the next reads found program output (bot reports, compiler traces, diffstats, git
blame) and docs text around a listing the site pulls in at build time and the corpus lacks. Each
check is a pure function of the text, so the passage filters, the real-corpus benchmark and the
tests all apply the same definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})", re.M)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", re.M)
_DIFF_LINE = re.compile(
    r"^(?:diff --git |index [0-9a-f]{6,}\.\.|--- (?:a/|/dev/null)|\+\+\+ (?:b/|/dev/null)|@@ "
    r"|[+-](?![-+]{2}\s)|\\ No newline)"
)
_HEADER = re.compile(r"^diff --git |^--- \S.*\n\+\+\+ \S", re.M)
_LIST_ITEM = re.compile(r"^[-+*] +[\w\"'‘“(\[^]")
# Template tags left in the text: Liquid/Jinja "{% %}" and "{{ site.x }}" (what the built page
# would show instead is unknown), Hugo and mdBook "{{< >}}" "{{#...}}", kramdown "{: .note}" and a
# WordPress shortcode's closing "[/button]".
_DIRECTIVE = re.compile(
    r"\{%-?.*?-?%\}|\{\{[<%#].*?\}\}|\{\{\s*[A-Za-z_][\w.\[\]'\"-]*(?:\s*\|[^}\n]*)?\s*\}\}"
    r"|^\s*\{:[^}]*\}\s*$|\[/[a-z_]+\]",
    re.S | re.M,
)
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(?:[\w-]+\s*[:=].*\n)+")
_ANY_TAG = re.compile(r"<(/)?([A-Za-z][\w:-]*)(\s+[^<>]*?)?/?>")
HTML_ELEMENTS = frozenset(
    "a abbr address article aside audio b blockquote body br button caption center cite code col dd del details "
    "dfn div dl dt em embed figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img "
    "input ins kbd label li link main mark meta nav noscript object ol option p param picture pre q s samp script "
    "section select small source span strike strong style sub summary sup svg table tbody td template textarea "
    "tfoot th thead time title tr tt u ul var video wbr".split()
)
_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
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


def _is_diff_line(line: str) -> bool:
    # "- Retiring early takes..." is a list item: a removed line keeps its own indentation, so a
    # single space and then a word is prose far more often than a diff.
    return bool(_DIFF_LINE.match(line)) and not _LIST_ITEM.match(line)


def diff_hunk(text: str) -> bool:
    """Diff lines without the patch's description in front: a hunk cut from a patch mail, or a
    passage that is mostly ``+``/``-`` lines."""
    lines = _lines(text)
    if not lines:
        return False
    diff_lines = sum(_is_diff_line(x) for x in lines)
    if _is_diff_line(lines[0]) and (_HUNK.search(text) or diff_lines >= 3):
        return True
    if _HEADER.search(text):  # prose first, then a whole diff: a patch with its description
        return False
    return len(lines) >= 4 and diff_lines / len(lines) > 0.5


def markup(text: str) -> bool:
    """HTML tags, template directives, front matter or entities left in the prose (not in code)."""
    # Redaction's <PERSON_1> is not a tag, and inline code shows markup on purpose ("`<div>`").
    prose = _INLINE_CODE.sub(" ", _PLACEHOLDER.sub(" ", _outside_fences(text)))
    if _FRONT_MATTER.match(prose.lstrip()) or _DIRECTIVE.search(prose):
        return True
    return len(html_tags(prose)) >= 2 or len(_ENTITY.findall(prose)) >= 3


def html_tags(text: str) -> list[str]:
    """The HTML tags of a text: a known element, a closing tag, or a tag with an attribute. Not
    "<desired version>" placeholders or "Vec<T>" generics, which prose writes in angle brackets."""
    return [
        m.group(0)
        for m in _ANY_TAG.finditer(text)
        if m.group(1) or m.group(2).lower() in HTML_ELEMENTS or "=" in (m.group(3) or "")
    ]


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
        if re.match(r"^\S*[\d-]", first):  # "t-distributed ...", "my6sense ...": a name, not a cut
            return False
        return len(first.split()) >= 3 and not first.rstrip().endswith((":", "{", "(", "\\"))
    return False


_EMOJI_END = re.compile(r":[\w+-]+:$")  # ":heart:" ends a sentence; it introduces nothing


def ends_open(text: str) -> bool:
    """The passage ends on a colon: the list, listing or quote it introduces is not in it."""
    lines = _lines(text)
    last = lines[-1].rstrip() if lines else ""
    return last.endswith(":") and not _EMOJI_END.search(last)


# "In this section, we'll ...", "Let's look at a few of ...", "Next, we'll ...": a section's
# opening that announces what its subsections or the next chapter hold.
_ANNOUNCES = re.compile(
    r"\b(?:we['’]ll|we will|we['’]re going to|let['’]s (?:look|see|explore|start|take|walk|dive|discuss|examine)"
    r"|in (?:this|the next|the following) (?:section|chapter)s?|next,? we|the (?:next|following) (?:section|chapter)s?)\b",
    re.I,
)
_MD_HEADING_LINE = re.compile(r"^#{1,6} .*$", re.M)


# A docs section with fewer words than this under its heading is a stub: a heading and a sentence
# or two ("## Permalinks" and a link), which the model asks for more than it holds. --prime opens
# sections from this length on with "Explain how"; the standalone filter drops shorter ones.
MIN_SECTION_WORDS = 40


# A line of running text: a sentence of some length that ends like one.
_PROSE_LINE = re.compile(r"[.!?\"”’')]\s*$")
# A web passage with fewer words of running text than this below its first line is a caption, a
# title and a byline, or a list of links: none of the 4 such pairs the stop-33 reads saw was usable.
MIN_PROSE_WORDS = 40


_PARAGRAPH_WORDS = 25  # a line this long is a paragraph, however it ends


def prose_words(text: str) -> int:
    """Words in the lines of running text: 8 words or more ending like a sentence, or 25 or more
    (a paragraph cut short). A short first line is left out: it is often the page's title."""
    lines = [line for line in text.split("\n") if line.strip()]
    short_first = len(lines) > 1 and len(lines[0].split()) < _PARAGRAPH_WORDS
    body = lines[1:] if short_first else lines
    sizes = [(len(line.split()), line) for line in body]
    return sum(n for n, line in sizes if n >= _PARAGRAPH_WORDS or (n >= 8 and _PROSE_LINE.search(line)))


def body_words(text: str) -> int:
    """Words of a Markdown passage without its heading lines."""
    return len(_MD_HEADING_LINE.sub("", text).split())


def announces(text: str, max_words: int = 80) -> bool:
    """A short passage that announces what follows it instead of holding it: the section intro
    "Rust's closures are ... We'll demonstrate how ...", a chapter's "Let's look at a few groups."
    """
    body = _MD_HEADING_LINE.sub("", text)
    return len(body.split()) < max_words and bool(_ANNOUNCES.search(body))


def ends_in_ellipsis(text: str) -> bool:
    """The passage ends on "..." or "…": a teaser whose text goes on behind a link or paywall."""
    return bool(re.search(r"(?:\.\.\.|…)[\])]?\s*$", text))


# What git format-patch writes between a patch's description and its diff: the diffstat lines
# (" path | 12 +-", binary files) and its summary ("3 files changed, ..."). Mail cleaning removes
# them from patches; tool_output counts them as program output.
DIFFSTAT_LINE = re.compile(
    r"^\s*\S+\s+\|\s+(?:\d+ ?[-+]*|Bin \d+ -> \d+ bytes)\s*$"
    r"|^\s*\d+ files? changed(?:, \d+ insertions?\(\+\))?(?:, \d+ deletions?\(-\))?\s*$"
)
# Lines a program wrote: compiler and static-checker diagnostics ("foo.c:12:3: warning: ...",
# smatch's "foo.c:12 fn() warn: ..."), a diffstat (" path | 12 +-", "3 files changed"), git blame
# ("^1a2b3c4d (Jane Doe 2024-01-02 10:11:12 +0100 42) code"), stack traces and kernel log lines.
_TOOL_LINE = re.compile(
    r"^\s*(?:\S+\.\w{1,4}:\d+(?::\d+)?:? (?:\S+ )?(?:warning|error|note|warn|info|sparse|fatal error)\b"
    r"|\S+\.\w{1,4}:\d+ \w+\(\) (?:warn|error|info)\b"
    r"|\^?[0-9a-f]{7,40} (?:\S+ )?\([^()]*\d{4}-\d\d-\d\d [^()]*\d+\)"
    r"|at \S+\(\S*:\d+\)|File \"[^\"]+\", line \d+"
    r"|\[\s*\d+\.\d{6}\] )"
)


def tool_output(text: str) -> bool:
    """Mostly lines a program wrote (diagnostics, diffstat, blame, traces), outside code blocks:
    a bot's report or pasted output with too little prose to answer anything."""
    lines = _lines(_outside_fences(text))
    tool = sum(bool(_TOOL_LINE.match(line) or DIFFSTAT_LINE.match(line)) for line in lines)
    return tool >= 3 and tool / len(lines) >= 0.3


def empty_code(text: str) -> bool:
    """A fenced code block with nothing in it: a listing the site pulls in at build time (mdBook's
    ``{{#include}}``) that the corpus does not hold, so the text around it points at nothing."""
    fence = ""
    blank = True
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not line.strip()[len(m.group(1)) :]
            ):
                if blank:
                    return True
                fence = ""
            elif line.strip():
                blank = False
        elif m:
            fence, blank = m.group(1), True
    return False


# A line of code outside a fence: indented, ending in ; { or }, or opening like a declaration.
_CODE_LINE = re.compile(
    r"^(?:\s{4,}|\t)\S|.*[;{}]\s*$|^\s*(?:#include|def |fn |let |const |int |void |static |return\b)"
)


def has_diff(text: str) -> bool:
    """A unified diff is in the text (a patch, not only talk about one)."""
    return bool(_HEADER.search(text) or _HUNK.search(text))


def has_code(text: str) -> bool:
    """Code is in the text: a fenced block, a diff, or at least three lines that read as code."""
    if _FENCE.search(text) or has_diff(text):
        return True
    return sum(bool(_CODE_LINE.match(line)) for line in _lines(text)) >= 3


def code_share(text: str) -> float:
    """The share of the text's non-blank lines that are code: in a fence (with its fence lines),
    diff lines, or lines that read as code."""
    total = len(_lines(text))
    prose = _lines(_outside_fences(text))
    code = total - len(prose) + sum(bool(_CODE_LINE.match(line) or _is_diff_line(line)) for line in prose)
    return code / total if total else 0.0


CHECKS: dict[str, Callable[[str], bool]] = {
    "diff_hunk": diff_hunk,
    "markup": markup,
    "open_fence": open_fence,
    "mid_sentence": mid_sentence,
    "tool_output": tool_output,
    "empty_code": empty_code,
    "ends_open": ends_open,
}


def junk(text: str) -> list[str]:
    """The names of the checks a text fails, in the order of CHECKS; [] for a clean text."""
    return [name for name, check in CHECKS.items() if check(text)]

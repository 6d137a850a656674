"""Markdown documents as text a reader sees: no front matter, markup, directives or bare links.

Documentation sources are written for a static-site generator, not for people: YAML/TOML front
matter, inline HTML (`<aside class="pquote"><img src=...>`), include and template directives
(mdBook ``{{#include ...}}``, Jekyll/Liquid ``{% ... %}``, Hugo ``{{< ... >}}``), HTML comments,
image-only and link-only lines. On real docs a third of the kept outputs started with such markup,
and the backward model wrote instructions about the markup. Each removal is counted by kind, so a
run's stats say what cleaning did. Fenced code blocks are left exactly as written: inside them
``<div>`` or ``{% %}`` is the content.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

from ..filters import junk

_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?(---|\+\+\+)[ \t]*\n.*?\n\1[ \t]*(?:\n|\Z)", re.S)
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Liquid/Jekyll, Hugo shortcodes, mdBook includes, Jinja: a directive line carries no prose.
_DIRECTIVE = re.compile(r"\{%-?.*?-?%\}|\{\{[<%#].*?[>%]?\}\}", re.S)
# mdBook's include directives, which it expands even inside code blocks: a path, then nothing, a
# line range ("3", "3:9", ":9", "3:") or an anchor name.
_INCLUDE = re.compile(r"^\s*\{\{#(?:rustdoc_include|include|playground)\s+([^}:\s]+)(?::([^}\s]*))?\s*\}\}\s*$")
_ANCHOR_LINE = re.compile(r"\bANCHOR(?:_END)?:\s*(\w+)")
_MAX_INCLUDE_BYTES = 256 * 1024
# Blocks whose content is never prose: dropped with what is inside.
_HIDDEN_BLOCK = re.compile(r"<(script|style|svg|iframe|object|video|audio|template)\b.*?</\1\s*>", re.S | re.I)
_TAG_WITH_BACKTICK = re.compile(r"<[A-Za-z][\w:-]*\s[^<>]*=[^<>]*`[^<>]*>")
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp);)(?:[A-Za-z]{2,8}|#\d{2,6}|#x[0-9A-Fa-f]{2,5});")
_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# Candidates for tags; junk.html_tags decides which are HTML ("Vec<T>" and "<your name>" stay).
_TAG_LIKE = re.compile(r"</?[A-Za-z][\w:-]*(?:\s+[^<>]*?)?/?>")
# An image, and a link around one ("[![Navigation tabs enabled]][Navigation tabs enabled]").
_IMAGE = (
    r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]"
    r"|\[!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])?\](?:\([^)]*\)|\[[^\]]*\])"
)
_LINK = r"\[[^\]]*\]\([^)]*\)|\[[^\]]*\]\[[^\]]*\]|<https?://[^>]+>|https?://\S+"
_IMAGE_ONLY = re.compile(rf"^\s*(?:[-*+]\s+)?(?:(?:{_IMAGE})\s*)+$")
_LINK_ONLY = re.compile(rf"^\s*(?:[-*+]\s+|\d+\.\s+)?(?:(?:{_LINK}|{_IMAGE})[\s|·,;]*)+$")
# Reference-style link definitions: "[id]: https://..." lines, invisible on the rendered page.
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+.*$")
# "[HTML Proofer][5]": its definition line goes (above), so the page shows the words only.
_REFERENCE_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\[[^\]\n]*\]")
# The same around inline code ("[`site_url`][mkdocs.site_url]"): matched on the whole line, since
# the code span splits it for the pattern above.
_CODE_REFERENCE_LINK = re.compile(r"(?<!!)\[((?:`[^`\n]+`[^\[\]`\n]*)+)\]\[[^\]\n]*\]")
# "[tabs]" whose label a definition line names: a shortcut reference link, shown as its words.
_SHORTCUT_LINK = re.compile(r"(?<![!\]])\[([^\[\]\n]+)\](?![\[(:])")
# MkDocs admonitions and collapsible blocks (`!!! note "Title"`, `??? tip`), content tabs
# (`=== "Tab"`): their text is indented four spaces under the marker, which Markdown would show as
# code. Docusaurus and Starlight asides: `:::tip[Title]` ... `:::`.
_INDENTED_BLOCK = re.compile(
    r'^(?:(?:!!!|\?\?\?\+?)\s+[\w-]+(?:\s+[\w-]+)*(?:\s+"(?P<title>[^"]*)")?|===\+?\s+"(?P<tab>[^"]*)")\s*$'
)
_ASIDE_OPEN = re.compile(
    r"^\s{0,3}:{3,}\s*(?P<kind>[A-Za-z][\w-]*)(?:\[(?P<title>[^\]]*)\])?(?:\{[^}]*\})?(?:\s+(?P<rest>.+?))?\s*$"
)
_ASIDE_CLOSE = re.compile(r"^\s{0,3}:{3,}\s*$")
# MDX's module lines: `import { Tabs } from '@astrojs/starlight/components';`, `export const x = ...`.
_MDX_IMPORT = re.compile(
    r"^(?:import\s+(?:.+\s+from\s+)?['\"][^'\"]+['\"];?|export\s+(?:const|let|default|function)\b.*)\s*$"
)
_MDX_IMPORT_START = re.compile(r"^import\s+\{[^}]*$")
# A line of JSX components only (`<Steps>`, `</TabItem>`, `<CardGrid stagger>`, `<ShowcaseSites />`):
# what they render is not in the source. A capitalized word after a word character is a type
# ("Option<String>"), not a component.
_COMPONENT_LINE = re.compile(r"^\s*(?:</?(?=\w*[a-z])[A-Z]\w+(?:\s+[^<>]*?)?/?>\s*)+$")
_KRAMDOWN_ATTRIBUTES = re.compile(r"^\s*\{:[^}]*\}\s*$")  # "{: .note}" lines of Jekyll's kramdown
_HEADING_ID = re.compile(r"^(#{1,6}\s.*?)\s*\{[#:.][^}]*\}\s*$", re.M)  # "## Title {#anchor}"


def clean_markdown(text: str, counts: Counter | None = None, base: Path | None = None) -> str:
    """The Markdown a reader would see, with each kind of removal counted in ``counts``.

    ``base`` is the page's folder: mdBook includes inside code blocks are read from the files
    they name (what the built page shows). A listing that is not there leaves its code block
    empty, so the passage around it ("This code prints:") is dropped as pointing at nothing.
    """
    counts = counts if counts is not None else Counter()
    original, before = text, sum(counts.values())
    match = _FRONT_MATTER.match(text)
    if match:
        counts["front_matter"] += 1
        text = text[match.end() :]
    # Before the main pass: an admonition's code is indented under it, so its fences are fences
    # only once the block is dedented.
    text = _unwrap_site_blocks(text, counts)
    defined = {m.group(1).strip().lower() for m in re.finditer(r"^\s{0,3}\[([^\]]+)\]:\s+\S", text, re.M)}
    out: list[str] = []
    prose: list[str] = []  # prose lines waiting to be cleaned (an HTML tag may span lines)
    fence = ""
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if _closes(fence, line):
                fence = ""
            elif _INCLUDE.match(line):  # mdBook pulls listings in here: the page shows the file
                included = _include(_INCLUDE.match(line), base)
                if included is None:
                    counts["missing_includes"] += 1
                else:
                    counts["resolved_includes"] += 1
                    out.extend(included)
                continue
            out.append(line)
            continue
        if opening:
            out.extend(_clean_prose("\n".join(prose), counts, defined))
            prose = []
            fence = opening.group(1)
            out.append(line)
            continue
        prose.append(line)
    out.extend(_clean_prose("\n".join(prose), counts, defined))
    if sum(counts.values()) == before:  # nothing to clean: the file as it is, byte for byte
        return original
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _closes(fence: str, line: str) -> bool:
    """``line`` closes a code block opened by ``fence``: the same character, at least as many,
    and nothing after them."""
    closing = _FENCE.match(line)
    return bool(
        closing
        and closing.group(1)[0] == fence[0]
        and len(closing.group(1)) >= len(fence)
        and not line.strip()[len(closing.group(1)) :].strip()
    )


def _include(match: re.Match, base: Path | None) -> list[str] | None:
    """The lines an mdBook include shows, or None when its file is not there to read."""
    if base is None:
        return None
    path = base / match.group(1)
    try:
        if not path.is_file() or path.stat().st_size > _MAX_INCLUDE_BYTES:
            return None
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None
    spec = match.group(2) or ""
    if spec and not re.fullmatch(r"\d*(?::\d*)?", spec):  # an anchor: the lines between its markers
        inside = [i for i, line in enumerate(lines) if (m := _ANCHOR_LINE.search(line)) and m.group(1) == spec]
        if len(inside) < 2:
            return None
        lines = lines[inside[0] + 1 : inside[-1]]
    elif spec:
        first, _, last = spec.partition(":")
        start = max(int(first) - 1, 0) if first else 0
        end = int(last) if last else (len(lines) if ":" in spec else start + 1)
        lines = lines[start:end]
    # mdBook hides the anchor markers of other anchors, and rustdoc_include's "# " lines are hidden.
    shown = [line for line in lines if not _ANCHOR_LINE.search(line)]
    while shown and not shown[-1].strip():
        shown.pop()
    return shown


def _unwrap_site_blocks(text: str, counts: Counter) -> str:
    """A static-site generator's blocks as their page shows them: an admonition's or a tab's
    title as a bold line over its text, dedented; an aside's fences gone; MDX module lines gone.
    Fenced code is left alone (docs show these syntaxes as examples)."""
    lines, out, fence, i = text.split("\n"), [], "", 0
    while i < len(lines):
        line = lines[i]
        opening = _FENCE.match(line)
        if fence:
            fence = "" if _closes(fence, line) else fence
            out.append(line)
            i += 1
            continue
        if opening:
            fence = opening.group(1)
            out.append(line)
            i += 1
            continue
        block = _INDENTED_BLOCK.match(line)
        if block:
            counts["admonitions"] += 1
            label = block.group("title") if block.group("title") is not None else block.group("tab")
            body, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(("    ", "\t"))):
                body.append(lines[i][4:] if lines[i].startswith("    ") else lines[i].lstrip("\t"))
                i += 1
            # A tab of screenshots only ("With section index pages" over an image) shows nothing here.
            shown = [b for b in body if b.strip() and not (_IMAGE_ONLY.match(b) or _LINK_ONLY.match(b))]
            out.extend([f"**{label.strip()}**", ""] if label and label.strip() and shown else [])
            out.extend(_unwrap_site_blocks("\n".join(body).strip("\n"), counts).split("\n") + [""])
            continue
        aside = _ASIDE_OPEN.match(line)
        if aside or _ASIDE_CLOSE.match(line):
            counts["admonitions"] += bool(aside)
            label = aside and (aside.group("title") or aside.group("rest"))
            out.extend([f"**{label.strip()}**", ""] if label and label.strip() else [""])
            i += 1
            continue
        if _COMPONENT_LINE.match(line):
            counts["mdx_components"] += 1
            i += 1
            continue
        if _MDX_IMPORT.match(line) or _MDX_IMPORT_START.match(line):
            counts["mdx_imports"] += 1
            if _MDX_IMPORT_START.match(line):  # `import {` ... `} from '...'` over several lines
                while i + 1 < len(lines) and not re.search(r"\bfrom\s+['\"]", lines[i]):
                    i += 1
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _clean_prose(text: str, counts: Counter, defined: frozenset | set = frozenset()) -> list[str]:
    if not text:
        return [] if text == "" else [text]
    text = _count_sub(_COMMENT, "", text, counts, "html_comments")
    text = _count_sub(_HIDDEN_BLOCK, "", text, counts, "html_blocks")
    # A tag whose attributes hold a backtick (the Rust book's <Listing caption="... `v` ...">) is
    # never inside an inline code span: the backtick would have closed the span.
    text = _count_sub(_TAG_WITH_BACKTICK, "", text, counts, "html_tags")
    text = _outside_code(text, lambda t: _count_sub(_DIRECTIVE, "", t, counts, "template_directives"))
    text = _outside_code(text, lambda t: _strip_tags(t, counts))
    text = _count_sub(_HEADING_ID, r"\1", text, counts, "heading_ids")
    # "&#37;" and "&quot;" show as "%" and '"' on the page; "&lt;", "&gt;" and "&amp;" stay, since
    # as characters they would read as markup.
    text = _outside_code(
        text, lambda t: _count_sub(_ENTITY, lambda m: html.unescape(m.group(0)), t, counts, "html_entities")
    )
    lines = []
    for line in text.split("\n"):
        if _IMAGE_ONLY.match(line):
            counts["image_lines"] += 1
            continue
        if _LINK_ONLY.match(line) or _LINK_DEFINITION.match(line):
            counts["link_lines"] += 1
            continue
        if _KRAMDOWN_ATTRIBUTES.match(line):
            counts["html_tags"] += 1
            continue
        # "#### <!-- md:setting config.enabled -->": a heading that was all markup names nothing.
        if re.fullmatch(r"\s{0,3}#{1,6}\s*", line):
            counts["empty_headings"] += 1
            continue
        line = _count_sub(_CODE_REFERENCE_LINK, r"\1", line, counts, "reference_links")
        line = _outside_code(line, lambda t: _count_sub(_REFERENCE_LINK, r"\1", t, counts, "reference_links"))
        if defined:
            line = _outside_code(line, lambda t: _shortcut_links(t, defined, counts))
        lines.append(line.rstrip())
    return lines


def _shortcut_links(text: str, defined: set, counts: Counter) -> str:
    def words(m: re.Match) -> str:
        if m.group(1).strip().lower() not in defined:
            return m.group(0)
        counts["reference_links"] += 1
        return m.group(1)

    return _SHORTCUT_LINK.sub(words, text)


def _outside_code(text: str, clean) -> str:
    """``clean`` applied to the text between inline code spans: "`<div>`" in a sentence is shown
    to the reader as code, and so is a Liquid tag a Jekyll page documents."""
    pieces, pos = [], 0
    for m in _INLINE_CODE.finditer(text):
        pieces += [clean(text[pos : m.start()]), m.group(0)]
        pos = m.end()
    return "".join(pieces + [clean(text[pos:])])


def _strip_tags(text: str, counts: Counter) -> str:
    def drop(m: re.Match) -> str:
        if junk.html_tags(m.group(0)):
            counts["html_tags"] += 1
            return ""
        return m.group(0)

    return _TAG_LIKE.sub(drop, text)


def _count_sub(pattern: re.Pattern, repl, text: str, counts: Counter, name: str) -> str:
    text, n = pattern.subn(repl, text)
    if n:
        counts[name] += n
    return text


def title(text: str) -> str:
    """A page's title: front matter's ``title:``, else its first heading, else ""."""
    match = _FRONT_MATTER.match(text)
    if match:
        found = re.search(r"^title\s*[:=]\s*(.+)$", match.group(0), re.M)
        if found:
            return found.group(1).strip().strip("\"'")
    heading = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return heading.group(1).strip() if heading else ""

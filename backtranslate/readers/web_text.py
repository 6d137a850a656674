"""Cleaning of a web page's main text after extraction: what a page puts around its article.

trafilatura finds the main text well (token F1 0.94 on 30 real pages, RESULTS), but keeps what
sits inside the article's container: a "You may also like..." list at its end, "Related: ..."
lines between paragraphs, embedded tweets, "Click here to subscribe", a comments counter, a photo
credit, the dateline and section label above the headline. Blind readers called a pair unusable
for one such line (stop 33, RESULTS: 13 of the 19 kept web pairs they faulted at stop 32 were
page clutter). Each step is counted in the run's `cleaned` stats, by the kind of line removed.
"""

from __future__ import annotations

import re
from collections import Counter

# A bare line that opens a list of links to other stories: everything after it is that list.
_RELATED_HEAD = re.compile(
    r"^\s*(?:you (?:may|might) also (?:like|enjoy)|related(?: (?:articles?|stories|posts|coverage|content|links|reading|news))?"
    r"|more (?:stories|news|articles|from \S+(?: \S+)?)|recommended(?: for you| reading| stories)?|trending(?: now| stories)?"
    r"|most (?:popular|read)|popular (?:stories|posts)|see also|also read|read next)\s*[.…:]*\s*$",
    re.I,
)
# One line that points to another story or page ("READ MORE: China plague ...", "[Related: ...]",
# "Also on rt.com ...", "More:").
_PROMO_LINE = re.compile(
    r"^\s*\[?\s*(?:(?:read more|see more|related|see also|also read|also|more|watch|listen)\s*:"
    r"|also on [\w.-]+\.(?:com|org|net|co\.uk)\b)(?:\s*\S.{0,150})?$",
    re.I,
)
# An embedded tweet's attribution ("— Dave Schukin (@schukin) July 3, 2019") and its links.
_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_TWEET_BY = re.compile(rf"^\s*[—-]\s*.{{1,80}}\(@\w{{1,15}}\)\s*{_MONTHS} \d{{1,2}}, \d{{4}}\s*$")
_TWEET_LINK = re.compile(r"pic\.twitter\.com/\w+|(?:twitter|x)\.com/\w+/status/\d+")
# A short line that asks the reader to do something on the page, not part of what it says.
_CALL_TO_ACTION = re.compile(
    r"^\s*-?\s*(?:click (?:here|for|to)|subscribe|sign up|learn more|find out more|download\s*:|shop now|buy now"
    r"|see it (?:now|at)|follow us|listen\s*:|watch\s*:|get (?:the|our) (?:newsletter|app))\b",
    re.I,
)
_MAX_ACTION_WORDS = 12
# The page's furniture around comments, sharing and printing.
_FURNITURE = re.compile(
    r"^\s*(?:\d*\s*comments?|view comments|leave a comment|tell us what you think\W*|like this story\?.*"
    r"|share (?:this|on) (?:story|article|post|page|facebook|twitter)\b.*|-?\s*order reprints|-?\s*print article"
    r"|this copy is for your personal, non-commercial use only\b.*)\s*$",
    re.I,
)
# A photo's credit ("(Credit: Clayton Aldern / Grist)", "Photo: AP"), a bare link, a hashtag.
_CREDIT = re.compile(
    r"^\s*\(?\s*(?:(?:photo|image|picture)\s+)?(?:credit|courtesy|photo)\s*:\s*[^.]{1,80}\)?\s*$", re.I
)
_BARE_LINK = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$")
_HASHTAG = re.compile(r"^\s*#\w+\s*$")
# Above the headline: a dateline ("October 22, 2019 report", "January 13, 2020 at 08:45 AM |
# categories: ...") or a section label ("Tech", "immunology").
_DATELINE = re.compile(rf"^\s*{_MONTHS} \d{{1,2}}, \d{{4}}\b[^.!?]{{0,100}}$")
_HEAD_LINES = 3  # how far down a page its dateline and label sit
# A line of a list of other stories' headlines: 4 to 22 words, no sentence end, no list mark.
_HEADLINE_LIKE = re.compile(r"^(?![-*•]|\d+[.)]\s)\S.*[^.!?:\"”’')\s]$")


def clean_web(text: str, counts: Counter | None = None) -> str:
    """The page's text without the lines its page put around the article; ``counts`` gains
    one count per line removed, by kind."""
    counts = counts if counts is not None else Counter()
    lines = _without_headline_run(text.split("\n"), counts)
    kept: list[str] = []
    for i, line in enumerate(lines):
        kind = _clutter(line, i, lines, kept)
        if kind == "related_list":
            counts["related_links"] += len([rest for rest in lines[i:] if rest.strip()])
            break
        if kind == "tweet_embeds" and kept and _TWEET_BY.match(line):
            # The tweet's own text is the line above its attribution, ending on its link.
            if re.search(r"https?://\S+\s*$|pic\.twitter\.com/\w+\s*$", kept[-1]):
                kept.pop()
                counts["tweet_embeds"] += 1
        if kind:
            counts[kind] += 1
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _clutter(line: str, i: int, lines: list[str], kept: list[str]) -> str:
    """The kind of page furniture ``line`` is, or ""."""
    stripped = line.strip()
    words = len(stripped.split())
    if not stripped:
        return ""
    if any(part.strip() for part in kept) and _RELATED_HEAD.match(line):
        return "related_list"
    if _PROMO_LINE.match(line) and words <= 25:
        return "related_links"
    if _TWEET_BY.match(line) or _TWEET_LINK.search(line):
        return "tweet_embeds"
    if _CALL_TO_ACTION.match(line) and words <= _MAX_ACTION_WORDS and not stripped.endswith("."):
        return "calls_to_action"
    if _FURNITURE.match(line):
        return "page_furniture"
    if _CREDIT.match(line) or _BARE_LINK.match(line) or _HASHTAG.match(line):
        return "credits_and_links"
    above = sum(1 for part in kept if part.strip())  # lines of the page kept above this one
    if above < _HEAD_LINES and _DATELINE.match(stripped):
        return "datelines_and_labels"
    if above == 0 and _label(stripped, lines[i + 1 :]):
        return "datelines_and_labels"
    return ""


def _label(line: str, rest: list[str]) -> bool:
    """A section label of a word or two over a longer line (the headline): "Tech", "immunology"."""
    after = next((part.strip() for part in rest if part.strip()), "")
    return len(line.split()) <= 2 and not re.search(r"[.!?:]$", line) and len(after.split()) >= 4


def _without_headline_run(lines: list[str], counts: Counter) -> list[str]:
    """A page that opens on a list of other stories' headlines (3 or more such lines before its
    first sentence) loses them; the page's own headline among them is the instruction's."""
    run = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if 4 <= len(stripped.split()) <= 22 and _HEADLINE_LIKE.match(stripped):
            run += 1
            continue
        break
    if run < 3:
        return lines
    out, dropped = [], 0
    for line in lines:
        if dropped < run and line.strip():
            dropped += 1
            continue
        out.append(line)
    counts["related_links"] += run
    return out

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
    r"^\s*-?\s*(?:(?:click (?:here|for|to)|subscribe|sign up|learn more|find out more|shop now|buy now"
    r"|see it (?:now|at)|follow us|get (?:the|our) (?:newsletter|app))\b|(?:download|listen|watch|itunes)\s*:)",
    re.I,
)
_MAX_ACTION_WORDS = 12
# Where the text came from and who wrote it, on a line of its own ("This article originally
# appeared on VICE US.", "Courtesy of Forests News", "Written by: Julie Mollins"), and what the
# site was paid ("This shop has been compensated by ...", "We may earn a commission ...").
_SOURCE_LINE = re.compile(
    r"^\s*(?:this (?:article|story|post|piece) (?:was )?(?:originally |first )?(?:appeared|published|ran) (?:on|in)\b.{0,80}"
    r"|courtesy of\b.{1,60}|(?:written|posted|reported|words) by\s*:?\s*.{1,60})$",
    re.I,
)
_DISCLOSURE = re.compile(
    r"\b(?:has been compensated by|affiliate (?:links?|commissions?|partnerships?)|we (?:may )?(?:earn|receive) "
    r"(?:a )?(?:small )?commission|sponsored (?:post|content) (?:by|from)|paid partnership)\b",
    re.I,
)
_MAX_DISCLOSURE_WORDS = 45
# A stock ticker widget: a table that opens on a "Ticker" or "Symbol" column.
_TICKER_HEAD = re.compile(r"^\s*\|\s*(?:ticker|symbol)\s*\|", re.I)
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
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
_DATELINE = re.compile(
    rf"^\s*(?:{_MONTHS} \d{{1,2}}, \d{{4}}\b[^.!?]{{0,100}}|\d{{1,2}}:\d\d\s*[AP]M\b[^.!?]{{0,80}})$", re.I
)
_HEAD_LINES = 3  # how far down a page its dateline and label sit
# A line of a list of other stories' headlines: a few words, no sentence end, no list mark.
_MAX_HEADLINE_RUN = 10
_HEADLINE_LIKE = re.compile(r"^(?![-*•]|\d+[.)]\s)\S.*[^.!?:\"”’')\s]$")


def clean_web(text: str, counts: Counter | None = None) -> str:
    """The page's text without the lines its page put around the article; ``counts`` gains
    one count per line removed, by kind."""
    counts = counts if counts is not None else Counter()
    lines = _without_headline_run(text.split("\n"), counts)
    tickers = _ticker_rows(lines)
    kept: list[str] = []
    above = 0  # lines with text kept so far
    for i, line in enumerate(lines):
        kind = "widgets" if i in tickers else _clutter(line, i, lines, above)
        if kind == "related_list":
            counts["related_links"] += sum(1 for rest in lines[i:] if rest.strip())
            break
        if kind == "tweet_embeds" and kept and _TWEET_BY.match(line):
            # The tweet's own text is the line above its attribution, ending on its link.
            if re.search(r"https?://\S+\s*$|pic\.twitter\.com/\w+\s*$", kept[-1]):
                above -= bool(kept.pop().strip())
                counts["tweet_embeds"] += 1
        if kind:
            counts[kind] += 1
            continue
        kept.append(line)
        above += bool(line.strip())
    return "\n".join(kept).strip()


def _clutter(line: str, i: int, lines: list[str], above: int) -> str:
    """The kind of page furniture ``line`` is, or ""; ``above`` counts the lines with text kept
    above it."""
    stripped = line.strip()
    words = len(stripped.split())
    if not stripped:
        return ""
    if _RELATED_HEAD.match(line):
        # A list of other stories follows it (headlines, no sentences): the list goes with it. A
        # bare "Related" over the article's own next paragraph goes alone.
        after = _next_lines(lines, i, 3)
        listed = sum(_headline(part) for part in after) >= min(2, len(after))
        return "related_list" if listed and after and above else "related_links"
    if _PROMO_LINE.match(line) and words <= 25:
        return "related_links"
    if _TWEET_BY.match(line) or _TWEET_LINK.search(line):
        return "tweet_embeds"
    if _CALL_TO_ACTION.match(line) and words <= _MAX_ACTION_WORDS and not stripped.endswith("."):
        return "calls_to_action"
    if _FURNITURE.match(line):
        return "page_furniture"
    if _SOURCE_LINE.match(line) or (_DISCLOSURE.search(line) and words <= _MAX_DISCLOSURE_WORDS):
        return "credits_and_links"
    # Another story's headline in capitals between paragraphs ("CO-FOUNDER 'PROUD' OF HOME DEPOT
    # EMPLOYEES ..."): a promotion. A heading in capitals is shorter.
    if 0 < i < len(lines) - 1 and words >= 6 and _in_capitals(stripped) and not re.search(r"[?:]$", stripped):
        return "related_links"
    if _CREDIT.match(line) or _BARE_LINK.match(line) or _HASHTAG.match(line):
        return "credits_and_links"
    if above < _HEAD_LINES and _DATELINE.match(stripped):
        return "datelines_and_labels"
    if above == 0 and _label(stripped, _next_lines(lines, i, 1)):
        return "datelines_and_labels"
    return ""


def _next_lines(lines: list[str], i: int, n: int) -> list[str]:
    """Up to ``n`` lines with text after line ``i``, stripped."""
    found: list[str] = []
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            found.append(lines[j].strip())
            if len(found) == n:
                break
    return found


def _label(line: str, after: list[str]) -> bool:
    """A section label of a word or two over a longer line (the headline): "Tech", "immunology"."""
    return len(line.split()) <= 2 and not re.search(r"[.!?:]$", line) and bool(after) and len(after[0].split()) >= 4


def _in_capitals(line: str) -> bool:
    """Written in capital letters: none in lower case, and capitals most of its characters (a
    script without case, such as Korean, is not)."""
    letters = [c for c in line if not c.isspace()]
    return not any(c.islower() for c in line) and sum(c.isupper() for c in letters) >= 0.5 * len(letters)


def _ticker_rows(lines: list[str]) -> set[int]:
    """The lines of the tables that open on a ticker header, found in one pass."""
    rows: set[int] = set()
    inside = False
    for i, line in enumerate(lines):
        inside = bool(_TICKER_HEAD.match(line)) or (inside and bool(_TABLE_ROW.match(line)))
        if inside:
            rows.add(i)
    return rows


def _headline(line: str) -> bool:
    return 3 <= len(line.split()) <= 22 and bool(_HEADLINE_LIKE.match(line))


def _without_headline_run(lines: list[str], counts: Counter) -> list[str]:
    """A page that opens on a list of other stories' headlines (3 to 10 such lines before its
    first sentence, and sentences after them) loses them; the page's own headline among them is
    the instruction's. A page that is a list (a calendar, a table of dates) keeps it."""
    run = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if len(stripped.split()) >= 4 and _headline(stripped):
            run += 1
            continue
        break
    rest = [line for line in lines if line.strip()][run:]
    prose = any(len(line.split()) >= 12 and re.search(r"[.!?\"”]\s*$", line) for line in rest[:5])
    if not 3 <= run <= _MAX_HEADLINE_RUN or not prose:
        return lines
    out, dropped = [], 0
    for line in lines:
        if dropped < run and line.strip():
            dropped += 1
            continue
        out.append(line)
    counts["related_links"] += run
    return out

"""Cleaning of a web page's main text after extraction: what a page puts around its article.

trafilatura finds the main text well (token F1 0.94 on 30 real pages, RESULTS), but keeps what
sits inside the article's container: a "You may also like..." list at its end, embedded tweets,
"Click here to subscribe" lines. The blind reads of the real web splits called such pairs
unusable (stop 33, RESULTS: 13 of the 19 kept pairs the readers faulted, over all five splits,
were page clutter). Each step is counted in the run's `cleaned` stats.
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
# One line that points to another story inside the text ("READ MORE: China plague ...").
_PROMO_LINE = re.compile(r"^\s*(?:READ MORE|RELATED|SEE ALSO|ALSO READ|MORE|WATCH|LISTEN)\s*:\s+\S.{0,150}$")
# An embedded tweet's attribution ("— Dave Schukin (@schukin) July 3, 2019") and its links.
_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_TWEET_BY = re.compile(rf"^\s*[—-]\s*.{{1,80}}\(@\w{{1,15}}\)\s*{_MONTHS} \d{{1,2}}, \d{{4}}\s*$")
_TWEET_LINK = re.compile(r"pic\.twitter\.com/\w+|(?:twitter|x)\.com/\w+/status/\d+")
# A short line that asks the reader to do something on the page, not part of what it says.
_CALL_TO_ACTION = re.compile(
    r"^\s*(?:click here|subscribe|sign up|learn more|find out more|download\s*:|shop now|follow us"
    r"|listen\s*:|watch\s*:|get (?:the|our) (?:newsletter|app))\b",
    re.I,
)
_MAX_ACTION_WORDS = 12


def clean_web(text: str, counts: Counter | None = None) -> str:
    """The page's text without its related-stories tail, embedded tweets and calls to action;
    ``counts`` gains one count per line removed, by step."""
    counts = counts if counts is not None else Counter()
    lines = text.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if kept and _RELATED_HEAD.match(line):
            counts["related_links"] += len([rest for rest in lines[i:] if rest.strip()])
            break
        if _PROMO_LINE.match(line):
            counts["related_links"] += 1
            continue
        if _TWEET_BY.match(line) or _TWEET_LINK.search(line):
            counts["tweet_embeds"] += 1
            # The tweet's own text is the line above its attribution, ending on its link.
            if kept and _TWEET_BY.match(line) and re.search(r"https?://\S+\s*$|pic\.twitter\.com/\w+\s*$", kept[-1]):
                kept.pop()
                counts["tweet_embeds"] += 1
            continue
        if _CALL_TO_ACTION.match(line) and len(line.split()) <= _MAX_ACTION_WORDS and not line.rstrip().endswith("."):
            counts["calls_to_action"] += 1
            continue
        kept.append(line)
    return "\n".join(kept).strip()

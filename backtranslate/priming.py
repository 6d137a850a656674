"""The words an instruction opens with, where the passage shows what kind of text it is (``--prime``).

A list's mail says what it is in its headers: a patch, a series' cover letter, a reply in a thread
(its parent given as the pair's input). The embedded backward model ignores that often: on the
blind reads of real list mail most kept pairs were mismatches such as "What is the issue with the
following patch?" over a reply that clears up a confusion, or "What is the difference between
...?" over a one-line patch. A primer starts the instruction the way the seed's own pairs of that
kind start ("Reply to the ... below ...", "Write a patch ..."): the model writes the rest, so the
topic and what the output does still come from the passage. A patch or a series' cover letter is
asked for by its subject line, its author's own summary of it.

Two more kinds say what they are: a section of a Markdown page (its heading path), and a web
page that declares itself an article (its og:type, as trafilatura reads it). Their blind reads
found the same fault: "Write a Rust function ..." over a book section that explains one, "Write a
short story about ..." or "What is the weather in Napa County?" over a news article. A section's
instruction opens "Explain how" (where its headings cannot name it, below), an article's "Write an
article about". Text with no such signal (a plain-text file, a page of another type, a new thread)
gets no primer.

The primer is appended to the rendered prompt after the template's response marker, so it works
with every backend that continues token ids; the instruction is primer + continuation.

Some kinds say more about themselves than the model could add (stop 31, RESULTS):
- a patch or cover letter whose subject is known is asked for by its subject and nothing else
  (``closed``): what the model went on to write ("... that makes the following changes: rename
  the function ...") was what the readers called mismatch, 4 of 12 usable on two fresh splits;
- so is an article whose headline is known (stop 32): the model's own topic was the web reads'
  commonest mismatch, "a new planet in Saturn's orbit" over a map of Titan;
- so is a docs section under its own heading (stop 33): `Write the section "Tags and Categories >
  Tags" of the documentation page "Posts".` Under "Explain how" the model named the wrong subtopic
  or promised more than the section holds;
- so is a reply whose thread has a subject (stop 32): `Reply to the message below about "..."`,
  its parent the pair's input. The model's account of the message answered was the replies'
  commonest mismatch ("the user who says ..." what the parent does not say);
- a reply without one keeps what the model says about the message it answers ("Reply to the
  xfs_reinit_inode() patch below") and loses what it guesses the reply does (", explaining why
  ...", ", asking for a patch ...", a second sentence): replies with such a claim were 10 of 46
  verdicts usable, those without 15 of 36 (``finish``). A cut that leaves only "Reply to the
  following email." is then a duplicate of another pair's and goes as one.
"""

from __future__ import annotations

import re

from .filters.genre import mail_kind, subject_topic
from .filters.junk import MIN_SECTION_WORDS, body_words
from .passages import headings_in
from .records import MAIL_FORMATS, Record

# Openings taken from the shipped seed's pairs of each kind (backtranslate/data/seed.jsonl: its
# "reply" and "review" pairs open "Reply to the ... below", its "patch" pairs "Write a patch ...").
# No trailing space: the model's next token carries its own.
PRIMERS = {
    "reply": "Reply to the",
    "patch": "Write a patch",
    "cover letter": "Write the cover letter for a patch series that",
    # The seed's docs pairs open "Explain how to ...", "Describe ...", "Document ..."; its news and
    # blog pairs "Write a ... news article ...", "Write a blog post ...". An article names neither.
    # "Explain" alone was continued "the following Rust code ..." for 52 of heldout3's 186 docs
    # passages (`missing_input`); "Explain how" for 10 (stop 30, RESULTS).
    "docs section": "Explain how",
    "article": "Write an article about",
    # The seed's news pairs ask for a part where they have one: "Write the opening paragraphs of
    # a news story about ...", "Give me the first few paragraphs of ...".
    "opening": "Write the opening paragraphs of an article about",
    # Any other web page is asked for as text to write: unprimed, the model asked questions the page
    # does not answer ("What is the latest version of Python 3.6?" over its release notice), all 6
    # of the 11 unprimed web pairs the readers faulted; the 5 it opened "Write" were usable (stop 33).
    "page": "Write",
}
# Where the mail's subject is known, a patch or cover letter is asked for by it, and a reply (its
# parent the pair's input) by the thread's subject. The model's account of the message answered was
# the replies' commonest mismatch: "the user who says the bit_spinlock patch is too late for Clang",
# "the following Tue, 2025 at 09:31:25PM +0000", "the kref-compat mailing list" (stop 32, RESULTS).
SUBJECT_PRIMERS = {
    "patch": 'Write a patch with the subject "{subject}"',
    "cover letter": 'Write the cover letter for the patch series "{subject}"',
    "reply": 'Reply to the message below about "{subject}"',
}
# A one-word subject ("Re: test", "Re: hi") names no topic; the model writes the reply's instruction.
MIN_REPLY_SUBJECT_WORDS = 2
# Where an article's headline is known, it is asked for by it: a headline is its writer's summary as
# a subject line is a patch's. The model's own topic was what readers called mismatch ("a new planet
# in Saturn's orbit" over a map of Titan, "LeBron James' triple-double against the Lakers" over
# "LeBron sets triple-double mark, Lakers hold off OKC").
HEADLINE_PRIMERS = {
    "article": 'Write an article headlined "{headline}"',
    "opening": 'Write the opening paragraphs of an article headlined "{headline}"',
}
# Where a docs section's heading path is known, it is asked for by it and its page's title: a heading
# is its writer's name for what the section holds. Under "Explain how" the model named the wrong
# subtopic or promised more than the section holds ("... and what to do if they don't respond"):
# docs were 70-83% usable on four splits and 50-58% on the fifth (stop 31, RESULTS). LongForm asks
# for structured text by its title the same way.
SECTION_PRIMERS = {
    "section": 'Write the section "{section}" of the documentation page "{page}"',
    "sections": 'Write the sections {sections} of the documentation page "{page}"',
    "opening": 'Write the opening section of the documentation page "{page}"',
    "page": 'Write the documentation page "{page}"',
    "untitled": 'Write the documentation section "{section}"',
}
# A headline of fewer words names no story ("News", "Home", "Obituaries").
MIN_HEADLINE_WORDS = 4
# The separators a page title puts between its headline and the site's name or section
# ("... - Auto News", "... | DW | 10.06.2013"); a colon is the headline's own ("Tennis Podcast: ...").
_TITLE_PARTS = re.compile(r"\s+[|\-\u2013\u2014\u00b7\u00bb]\s+")
# og:type values of a news or blog article (schema.org's names, lower-cased, as pages write them).
ARTICLE_TYPES = frozenset({"article", "newsarticle", "blogposting", "reportagenewsarticle", "opinionnewsarticle"})


# What a reply does, as the model guesses it: a participle or "and <verb>" clause after the
# message it answers (", asking for a patch ...", " and explain why."), "with a patch/fix/summary
# ..." or a quoted message, or a second sentence (". Explain why ..."), up to the end.
_REPLY_CLAIM = re.compile(
    r"(?:,?\s+(?:and\s+)?(?:asking|explaining|saying|requesting|suggesting|telling|proposing|pointing out|"
    r"confirming|thanking|complaining|ask|explain|say|tell|suggest|propose|confirm)\b"
    r"|\s+with\s+(?:a|an|the)\s+(?:patch|fix|brief|short|summary|following|message|explanation|comment)\b"
    r"|[.:;!?]\s+\S).*",
    re.S,
)


def primer(passage: Record) -> str:
    """The opening for this passage's instruction, or "" where its kind is not known."""
    fmt = passage.meta.get("format")
    # "Explain how" presumes a section that explains something: over a heading and a sentence or
    # two it over-promised (2 of 18 verdicts usable under 40 words, against 6 of 16 unprimed).
    if fmt == "md" and body_words(passage.output) >= MIN_SECTION_WORDS:
        # Model-written docs instructions were 0 of 6 verdicts usable where a heading could not
        # name the passage (stop 33); "Explain how" stays for a passage no heading or title names.
        closed_form = docs_section(passage)
        if closed_form or passage.meta.get("headings"):
            return closed_form or PRIMERS["docs section"]
    if fmt == "html" and passage.meta.get("pagetype") in ARTICLE_TYPES:
        # Most articles are longer than a passage; their first passage is their opening.
        part = "opening" if passage.meta.get("continued") else "article"
        title = headline(str(passage.meta.get("title") or ""))
        return HEADLINE_PRIMERS[part].format(headline=title) if title else PRIMERS[part]
    if fmt == "html":
        return PRIMERS["page"]
    if fmt not in MAIL_FORMATS:
        return ""
    kind = mail_kind(passage.meta, bool(passage.input))
    # A reply is primed only with its parent as input: "Reply to the message below" over a reply
    # whose parent is not there asks about text the pair does not have (`missing_input`).
    if kind == "reply" and not passage.input:
        return ""
    # A patch's subject line is its author's own summary of it ("minmax: fix header inclusions"):
    # named in the instruction, the model no longer guesses the file or the purpose. Patches so
    # primed were 16 of 22 verdicts usable against 4 of 22 (stop 30's read of two splits, RESULTS).
    subject = subject_topic(str(passage.meta.get("subject") or "")).replace('"', "'")
    if kind == "reply" and len(subject.split()) < MIN_REPLY_SUBJECT_WORDS:
        subject = ""
    if subject and kind in SUBJECT_PRIMERS:
        return SUBJECT_PRIMERS[kind].format(subject=subject)
    return PRIMERS.get(kind, "")


def closed(passage: Record) -> str:
    """The whole instruction where the passage's own header says what it is (a patch or a series'
    cover letter by its subject, an article by its headline, a docs section by its headings), so the
    model is not asked to go on; "" elsewhere. Only those primers end on the quoted header."""
    opening = primer(passage)
    return opening + "." if opening.endswith('"') else ""


def docs_section(passage: Record) -> str:
    """The instruction naming a docs passage by its page's title and its headings
    (SECTION_PRIMERS): a whole page by its title, one section by its heading path, sections joined
    in one passage by their headings; "" where neither names it."""
    marks = headings_in(passage.output)
    page = _quotable(str(passage.meta.get("title") or ""))
    if passage.meta.get("whole_page"):
        return SECTION_PRIMERS["page"].format(page=page) if page else ""
    if not marks or marks[0][0] != 0:
        return ""
    if len(marks) > 1:
        # Sections joined in one passage (a short one to the one before it): the headings no
        # earlier heading of the passage holds.
        names, floor = [], 7
        for _, level, name in marks:
            if level <= floor:
                names.append(f'"{_quotable(name)}"')
            floor = min(floor, level)
        if len(names) < 2 or not page:
            return ""
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        return SECTION_PRIMERS["sections"].format(sections=listed, page=page)
    path = [_quotable(h) for h in passage.meta.get("headings") or []]
    if not page and len(path) > 1:
        page, path = path[0], path[1:]
    elif page and path and path[0].casefold() == page.casefold():
        path = path[1:]  # the page's top heading repeats its title
    if not page:
        return SECTION_PRIMERS["untitled"].format(section=" > ".join(path)) if path else ""
    if not path:
        return SECTION_PRIMERS["opening"].format(page=page)
    return SECTION_PRIMERS["section"].format(section=" > ".join(path), page=page)


def _quotable(text: str) -> str:
    """One line, its double quotes made single: it is quoted in the instruction."""
    return " ".join(text.split()).replace('"', "'")


def headline(title: str) -> str:
    """An article's headline from its page title: the longest of the parts a site's name or section
    is set off by, its double quotes made single (it is quoted in the instruction); "" when that
    is under MIN_HEADLINE_WORDS words."""
    parts = _TITLE_PARTS.split(" ".join(title.split()))
    best = max(parts, key=lambda part: len(part.split())).strip().replace('"', "'")
    return best if len(best.split()) >= MIN_HEADLINE_WORDS else ""


# An email's recipient as the model guesses it: "to the kitchen team" over a note to all staff, "to
# the customer who submitted the invoice" over the customer's own mail. Over every read up to stop
# 32, email instructions that named a recipient were 31 of 78 verdicts usable, those without 58 of 73.
_TO_WHOM = re.compile(r"\b(?:e-?mail|message|note|memo|letter)\s+(?P<to>to\s+)(?P<first>\S+)", re.I)
# A recipient opens with one of these, a name or a placeholder; "an email to announce ..." says
# what the mail is for, not whom it goes to.
_RECIPIENT_OPENERS = frozenset(
    "the a an all your my our their his her everyone everybody staff colleagues customers employees "
    "users members students parents clients".split()
)
# Where the recipient ends: what the mail is about or does.
_RECIPIENT_END = re.compile(
    r"\s+(?:about|asking|announcing|explaining|informing|inviting|regarding|requesting|reminding|telling|"
    r"thanking|letting|confirming|proposing|suggesting|describing|summari[sz]ing|introducing|updating|"
    r"concerning|on|with|that|to\s+(?:ask|announce|explain|inform|invite|request|remind|tell|thank|let|"
    r"confirm|propose|suggest|describe|introduce|update|share|say|discuss))\b|\s*[,.;:!?](?:\s|$)|\s*$",
    re.I,
)


def without_recipient(instruction: str) -> str:
    """An email instruction without the recipient the model guessed ("Write a brief email to the
    finance team about the export error." -> "Write a brief email about the export error."); as
    written where nothing would be left but "Write an email." or no recipient is named."""
    match = _TO_WHOM.search(instruction)
    if not match:
        return instruction
    first = match.group("first")
    if first.lower() not in _RECIPIENT_OPENERS and not first[:1].isupper() and not first.startswith("<"):
        return instruction
    end = _RECIPIENT_END.search(instruction, match.end("first"))
    rest = instruction[end.start() :] if end else ""
    if not re.search(r"\w", rest):
        return instruction
    return instruction[: match.start("to")].rstrip() + rest


def finish(instruction: str, opening: str) -> str:
    """The instruction as kept: a primed reply without the model's guess at what the reply does,
    an unprimed email without its guess at the recipient."""
    if not opening:
        return without_recipient(instruction)
    if opening != PRIMERS["reply"] or not instruction.startswith(opening):
        return instruction
    rest = instruction[len(opening) :]
    claim = _REPLY_CLAIM.search(rest)
    head = rest[: claim.start()].rstrip(" ,;:-.") if claim else ""
    return f"{opening}{head}." if head.strip() else instruction

"""What kind of text an instruction asks for, and whether a text is an e-mail.

Used by the ``asks_for_genre`` pair filter: the embedded backward model often names a genre its
output is not ("Write a blog post about ..." over an office e-mail). Only genres that an e-mail
is not are named here; a memo, note, update, announcement, agenda, review or letter can be an
e-mail, and the blind reads judged such pairs usable.
"""

from __future__ import annotations

import re

_NOT_MAIL = (
    r"blog(?:\s+post)?|(?:news\s+|magazine\s+)?article|(?:short\s+)?story|essay|poem|speech|tweet"
    r"|press\s+release|social\s+media\s+post|policy|guide|tutorial|faq|recipe"
)
# "Write a short blog post ...", "Draft an IT policy ...": the genre is the head noun, within a few
# words of the verb (an adjective or a topic word between: "a short internal IT policy").
_ASK = re.compile(
    r"^\s*(?:please\s+)?(?:write|draft|compose|create|prepare|produce|generate)\s+(?:(?:a|an|the|one)\s+)?"
    r"(?:[\w'-]+\s+){0,4}?(?P<genre>e-?mails?|" + _NOT_MAIL + r")\b",
    re.I,
)
# An e-mail opens with its subject line or a salutation ("Hi all,", "Dear team, the office ...",
# "<PERSON_2>,"): a greeting word and, within a few words, its comma.
_SUBJECT = re.compile(r"\A\s*subject:", re.I)
_SALUTATION = re.compile(
    r"\A\s*(?:(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^\n,.!?]{0,40}[,!:]|<PERSON_\d+>,)", re.I
)


def asked_for(instruction: str) -> str | None:
    """``"e-mail"``, another genre that an e-mail is not ("blog post", "press release"), or None."""
    match = _ASK.search(instruction)
    if not match:
        return None
    found = " ".join(match.group("genre").lower().split())
    return "e-mail" if re.fullmatch(r"e-?mails?", found) else found


def looks_like_mail(text: str) -> bool:
    """Opens with a subject line or a salutation."""
    return bool(_SUBJECT.match(text) or _SALUTATION.match(text))

"""What kind of text an instruction asks for, and whether a text is an e-mail (and which kind).

Used by the ``asks_for_genre`` pair filter: the embedded backward model often names a genre its
output is not ("Write a blog post about ..." over an office e-mail). Only genres that an e-mail
is not are named here; a memo, note, update, announcement, agenda, review or letter can be an
e-mail, and the blind reads judged such pairs usable.

On a mailing list the kind of message matters as well: a patch or a cover letter answers no
question, and a reply in a thread is no announcement, pull request or cover letter. The blind
reads of real list mail called most such pairs mismatch ("What is the difference between ...?"
over a one-line include fix; "Write a release announcement" over a reply about its timing).
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


# A patch series' cover letter: "[PATCH 0/3]", "[PATCH v2 00/12]", "[RFC PATCH 0/2]", and with a
# branch after the count, as stable backports write it: "[PATCH 00/15 v6.6.y]".
_COVER_LETTER = re.compile(r"\[[^\]]*\bPATCH\b[^\]]*?\b0+/\d+\b[^\]]*\]", re.I)
_REPLY_WORDS = r"re|aw|sv|antw"  # "Re:" as mail clients in English, German, Scandinavian, Dutch write it
_REPLY_SUBJECT = re.compile(rf"^\s*(?:{_REPLY_WORDS})\s*:", re.I)
# A subject's reply and forward prefixes and bracketed tags ("Re: [PATCH v2 3/7 6.1.y] ").
_SUBJECT_TAGS = re.compile(rf"^\s*(?:(?:{_REPLY_WORDS}|fwd?)\s*:\s*)*(?:\[[^\]]*\]\s*)*", re.I)


def subject_topic(subject: str) -> str:
    """What a mail's subject says, its prefixes and tags taken off: "minmax: fix header inclusions"."""
    return _SUBJECT_TAGS.sub("", " ".join(subject.split())).strip()


# What only a new thread is: a reply is none of these.
_THREAD_STARTER = re.compile(
    r"^\s*(?:please\s+)?(?:write|draft|compose|create|prepare|produce|generate|send|post|submit|announce)\s+"
    r"(?:(?:a|an|the|one)\s+)?(?:[\w'-]+\s+){0,4}?"
    r"(?P<genre>(?:release\s+)?announcement|pull\s+request|cover\s+letter|release\s+notes|bug\s+report)\b",
    re.I,
)
# A question, or a request for an explanation or a summary: what a patch or cover letter is not.
_QUESTION = re.compile(
    r"^\s*(?:please\s+)?(?:what|why|how|which|who|when|where|is|are|does|do|did|can|could|should|would|will"
    r"|explain|describe|summari[sz]e|clarify)\b|\?\s*$",
    re.I,
)


def mail_kind(meta: dict, has_input: bool) -> str:
    """What a passage of mail is, by its headers: "patch", "cover letter", "reply" or "message"."""
    subject = meta.get("subject") or ""
    if meta.get("patch"):
        return "patch"
    # Before the cover letter: "Re: [PATCH 0/3] ..." is a review of the series, and a review may
    # answer a question (the heldout3 read had one such drop).
    if has_input or meta.get("parent") or _REPLY_SUBJECT.match(subject):
        return "reply"
    if _COVER_LETTER.search(subject):
        return "cover letter"
    return "message"


# "Can you send a patch that ...?" asks for a patch, however it is phrased.
_POLITE_REQUEST = re.compile(
    r"^\s*(?:can|could|would|will)\s+(?:you|someone)\s+(?:please\s+)?"
    r"(?:write|make|fix|send|prepare|submit|create|add|update|change|remove|rewrite|provide|give|post|drop|revert)\b",
    re.I,
)


def mail_mismatch(instruction: str, kind: str | None) -> str | None:
    """Why the instruction cannot be what this kind of mail answers, or None."""
    if kind in ("patch", "cover letter") and _QUESTION.search(instruction) and not _POLITE_REQUEST.match(instruction):
        return f"asks a question, the output is a {kind}"
    starter = _THREAD_STARTER.search(instruction)
    if kind == "reply" and starter:
        return f"asks for a {' '.join(starter.group('genre').lower().split())}, the output is a reply in a thread"
    return None

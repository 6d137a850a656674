"""The words an instruction opens with, where the passage shows what kind of text it is (``--prime``).

A list's mail says what it is in its headers: a patch, a series' cover letter, a reply in a thread
(its parent given as the pair's input). The embedded backward model ignores that often: on the
blind reads of real list mail most kept pairs were mismatches such as "What is the issue with the
following patch?" over a reply that clears up a confusion, or "What is the difference between
...?" over a one-line patch. A primer starts the instruction the way the seed's own pairs of that
kind start ("Reply to the ... below ...", "Write a patch ..."): the model writes the rest, so the
topic and what the output does still come from the passage. Text with no such signal (docs, web
pages, a new thread) gets no primer.

The primer is appended to the rendered prompt after the template's response marker, so it works
with every backend that continues token ids; the instruction is primer + continuation.
"""

from __future__ import annotations

from .filters.genre import mail_kind
from .records import MAIL_FORMATS, Record

# Openings taken from the shipped seed's pairs of each kind (backtranslate/data/seed.jsonl: its
# "reply" and "review" pairs open "Reply to the ... below", its "patch" pairs "Write a patch ...").
# No trailing space: the model's next token carries its own.
PRIMERS = {
    "reply": "Reply to the",
    "patch": "Write a patch",
    "cover letter": "Write the cover letter for a patch series that",
}


def primer(passage: Record) -> str:
    """The opening for this passage's instruction, or "" where its kind is not known."""
    if passage.meta.get("format") not in MAIL_FORMATS:
        return ""
    kind = mail_kind(passage.meta, bool(passage.input))
    # A reply is primed only with its parent as input: "Reply to the message below" over a reply
    # whose parent is not there asks about text the pair does not have (`missing_input`).
    if kind == "reply" and not passage.input:
        return ""
    return PRIMERS.get(kind, "")

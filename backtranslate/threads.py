"""Stage (``--email-mode thread``): pair each reply with the message it answers.

A reply is the best response data mail has: the message it answers is its context, so the record
becomes ``input`` = that message (its subject and own words), ``output`` = the reply's own words,
and the backward model writes instructions such as "Reply to this email declining the meeting".

Threads are rebuilt from Message-ID, In-Reply-To and References (RFC 5322) across every .eml file,
maildir and .mbox of the corpus, whatever order the files come in: a reply may be read before
the message it answers. A reply whose parent is not in the corpus, and every message that answers
nothing, stays a record of its own words, as in the default mode.

A reply also carries the thread before its parent, ``meta["history"]``: the own words of up to
``MAX_HISTORY`` earlier messages of its chain, oldest first, so formats can write the thread as a
multi-turn conversation (formats.history_pairs). They are held before redaction, which replaces
their personal data with the same placeholders as the reply's, names of every message included. Messages are held until the
corpus is read (a reply's parent may come last); documents that are not mail stream on at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .readers.email_text import merge_names
from .records import MAIL_FORMATS, Record, stable_id

HISTORY = "history"  # meta key: the earlier messages of a reply's chain, oldest first (parent excluded)
MAX_HISTORY = 8  # earlier messages kept per reply: a long thread would repeat itself in every record
_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class ThreadStats:
    messages: int = 0  # e-mail messages read
    replies: int = 0  # replies paired with the message they answer
    missing_parent: int = 0  # replies whose parent is not in the corpus
    threads: int = 0  # conversations (messages linked by their ids)

    def to_dict(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "replies": self.replies,
            "missing_parent": self.missing_parent,
            "threads": self.threads,
        }


def message_ids(value: str) -> list[str]:
    """The <id>s of a header; a bare id without brackets counts too."""
    return _ID.findall(value) or value.split()


def parent_id(meta: dict[str, Any]) -> str:
    """The message this one answers: In-Reply-To, else the last of References."""
    for key in ("in_reply_to", "references"):
        ids = message_ids(meta.get(key) or "")
        if ids:
            return ids[-1]
    return ""


class _Links:
    """Union-find over message ids: messages linked through replies and references form a thread.
    The smallest id names each thread, so the name does not depend on reading order."""

    def __init__(self) -> None:
        self.up: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.up.get(root, root) != root:
            root = self.up[root]
        while self.up.get(x, x) != root:  # path compression
            self.up[x], x = root, self.up[x]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.up[max(ra, rb)] = min(ra, rb)


def thread_records(docs: Iterable[Record], stats: ThreadStats) -> Iterator[Record]:
    """Documents in, with each reply whose parent was read turned into an (input, output) pair."""
    mail: list[Record] = []
    for doc in docs:
        if doc.meta.get("format") in MAIL_FORMATS:
            mail.append(doc)
        else:
            yield doc
    stats.messages = len(mail)
    by_id: dict[str, Record] = {}
    links = _Links()
    own_ids = []
    for doc in mail:
        ids = message_ids(doc.meta.get("message_id") or "")
        own = ids[0] if ids else f"<no-id-{doc.id}>"  # a message without an id is a thread of its own
        own_ids.append(own)
        by_id.setdefault(own, doc)  # the first copy of a message read twice is the one answered
        for other in message_ids(doc.meta.get("references") or "") + message_ids(doc.meta.get("in_reply_to") or ""):
            links.join(own, other)
    stats.threads = len({links.find(own) for own in own_ids})
    for doc, own in zip(mail, own_ids):
        parent_key = parent_id(doc.meta)
        parent = by_id.get(parent_key) if parent_key else None
        meta = {**doc.meta, "thread": links.find(own), "parent": parent_key}
        if parent is None or parent is doc:
            stats.missing_parent += bool(parent_key)
            if parent_key:  # a reply without the message it answers: the standalone filter drops it
                meta["orphan_reply"] = True
            yield Record(output=doc.output, id=doc.id, meta=meta)
            continue
        stats.replies += 1
        elsewhere, at = quote_match(doc, parent)
        if elsewhere:
            meta["quotes_elsewhere"] = elsewhere
        if at:
            meta["quoted_at"] = at
        earlier = _earlier(doc, parent, by_id)
        names = merge_names([n for m in (doc, parent, *earlier) for n in m.meta.get("_names") or []])
        yield Record(
            output=_own_words(doc),
            input=parent.output,
            id=stable_id(doc.id, "reply-to", parent.id),
            meta={
                **meta,
                "_names": names,
                "email_mode": "thread",
                "parent_source": parent.meta["source"],
                "parent_row": parent.meta["row"],
                **({HISTORY: [_own_words(m) for m in earlier]} if earlier else {}),
            },
        )


MIN_QUOTES_FOUND = 0.5  # of a reply's quoted lines, the share its parent must hold


def quote_match(reply: Record, parent: Record) -> tuple[str, int]:
    """Where the reply's quoted lines are in its parent, in one pass over the parent's lines:

    - "N of M" where it quotes at least two lines and the parent holds under half of them: it
      answers another message than the one it is threaded under (a message of the thread quoted
      from elsewhere, a digest, a forward), and its own words point at text the pair lacks
      ("Same.", "the above annotation"); "" where the parent holds what it quotes;
    - the line of the parent where the first quoted line is (0: its first line, or none found). A
      parent too long for the prompt is cut around it (passages._context), not at its head: a
      review answers the hunk it quotes, often far down.
    """
    quoted = reply.meta.get("_quoted") or []
    if not quoted:
        return "", 0
    lines = [" ".join(line.split()).lower() for line in parent.output.split("\n")]
    held = " ".join(" ".join(lines).split())
    found = sum(q in held for q in quoted)
    elsewhere = f"{found} of {len(quoted)}" if len(quoted) >= 2 and found < MIN_QUOTES_FOUND * len(quoted) else ""
    hits = (i for i, line in enumerate(lines) if len(line) > 20 and any(q in line or line in q for q in quoted))
    return elsewhere, next(hits, 0)


def _earlier(reply: Record, parent: Record, by_id: dict[str, Record]) -> list[Record]:
    """The messages ``parent`` follows up on, up its chain of parents, oldest first; a chain that
    loops back (broken headers) stops where it would repeat."""
    chain: list[Record] = []
    seen = {id(reply), id(parent)}
    message = by_id.get(parent_id(parent.meta))
    while message is not None and id(message) not in seen and len(chain) < MAX_HISTORY:
        chain.append(message)
        seen.add(id(message))
        message = by_id.get(parent_id(message.meta))
    return chain[::-1]


def _own_words(doc: Record) -> str:
    """The reply without its "Subject: Re: ..." line: the subject belongs to the message answered."""
    subject = doc.meta.get("subject") or ""
    prefix = f"Subject: {subject}\n\n"
    return doc.output[len(prefix) :] if subject and doc.output.startswith(prefix) else doc.output

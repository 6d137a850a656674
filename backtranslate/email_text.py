"""E-mail messages as documents: the author's own words, without quotes, signatures or attachments.

A reply repeats the message it answers; keeping the quoted text would put the same passage in
the dataset once per reply and credit it to the wrong author, so quotes and the "On ... wrote:"
line above them are cut. Signatures are contact details, not content.
"""

from __future__ import annotations

import email
import email.errors
import re
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser

# Headers kept as provenance: meta key -> header name.
HEADERS = {
    "subject": "Subject", "from": "From", "to": "To", "date": "Date",
    "message_id": "Message-ID", "in_reply_to": "In-Reply-To",
}
# Defects that mean the MIME structure itself is lost, so no part can be trusted.
_STRUCTURAL = (email.errors.NoBoundaryInMultipartDefect, email.errors.StartBoundaryNotFoundDefect)
_SIGNATURE = ("-- ", "--")
_ORIGINAL = re.compile(r"^\s*-{3,}\s*Original Message\s*-{3,}\s*$", re.IGNORECASE)
_WROTE = re.compile(r"\bwrote:\s*$")
_MANGLED_FROM = re.compile(r"^>(>*From )", re.MULTILINE)


class BrokenMessage(ValueError):
    """The bytes do not parse into a message whose text can be read."""


class NoTextPart(ValueError):
    """The message parses but has no text/plain or text/html part (attachments only)."""


def email_document(data: bytes, mbox: bool = False) -> tuple[str, dict[str, str]]:
    """Parse one message into ("Subject: ...\\n\\nbody", header fields).

    The subject line is left out when there is none; the text is "" when no body is left.
    Raises BrokenMessage for bytes that are not a readable message, NoTextPart for one whose only
    parts are attachments.
    """
    try:
        msg = email.message_from_bytes(data, policy=policy.default)
    except Exception as e:  # the parser is lenient; anything it does raise means the bytes are not mail
        raise BrokenMessage(str(e)) from None
    if not msg.keys():
        raise BrokenMessage("no headers")
    fields = {key: _header(msg, name) for key, name in HEADERS.items()}
    body = _body(msg)
    if mbox:
        # mbox files escape body lines starting with "From " as ">From "; undo it before quotes are cut.
        body = _MANGLED_FROM.sub(r"\1", body)
    body = clean_body(body)
    if not body:
        return "", fields
    return (f"Subject: {fields['subject']}\n\n{body}" if fields["subject"] else body), fields


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = str(msg.get(name) or "")
    except Exception:  # policy.default parses structured headers and can fail on odd ones (Message-ID: <<<>>>)
        value = next((str(v) for k, v in msg.raw_items() if k.lower() == name.lower()), "")
    return " ".join(value.split())


def _body(msg: EmailMessage) -> str:
    if any(isinstance(d, _STRUCTURAL) for part in msg.walk() for d in part.defects):
        raise BrokenMessage("MIME structure is broken")
    part = msg.get_body(preferencelist=("plain", "html"))  # attachments are never the body
    if part is None:
        raise NoTextPart("no text part")
    try:
        raw = part.get_payload(decode=True) or b""
        if part.get_content_charset() in (None, "us-ascii") and not raw.isascii():
            # 8-bit text under an ASCII (or no) label is nearly always UTF-8 sent without a
            # charset; the ASCII decoder would turn every accented letter into U+FFFD.
            text = raw.decode("utf-8", errors="replace")
        else:
            text = part.get_content()
    except LookupError:  # unknown charset label: most such mail is UTF-8 or ASCII anyway
        text = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    except Exception as e:
        raise BrokenMessage(str(e)) from None
    if not isinstance(text, str):
        return ""
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def clean_body(text: str) -> str:
    """Drop the signature, quoted lines and their attribution line; trim trailing whitespace."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if line in _SIGNATURE or _ORIGINAL.match(line):
            lines = lines[:i]
            break
    kept: list[str] = []
    for line in lines:
        if line.startswith(">"):
            _drop_attribution(kept)
        else:
            kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _drop_attribution(kept: list[str]) -> None:
    """Remove "On <date>, <name> wrote:" (possibly wrapped onto two lines) above a quote."""
    j = len(kept) - 1
    while j >= 0 and not kept[j].strip():
        j -= 1
    if j < 0 or not _WROTE.search(kept[j]):
        return
    if kept[j].lstrip().startswith("On "):
        del kept[j:]
    elif j > 0 and kept[j - 1].lstrip().startswith("On "):
        del kept[j - 1:]


def html_to_text(html: str) -> str:
    """Plain text from an e-mail's HTML part; <blockquote> becomes "> " lines so quotes are cut the same way."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return parser.text()


class _HTMLText(HTMLParser):
    _HIDDEN = {"script", "style", "head", "title", "template"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
              "table", "blockquote", "pre", "hr"}
    _PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (blockquote depth, text)
        self.current = ""
        self.hidden = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCK:
            self._break(tag in self._PARAGRAPH)
            self.quote += tag == "blockquote"
            if tag == "li":
                self.current = "- "

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCK:
            self._break(tag in self._PARAGRAPH)
            self.quote = max(0, self.quote - (tag == "blockquote"))

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.current += re.sub(r"\s+", " ", data)

    def _break(self, blank: bool) -> None:
        if self.current.strip() and self.current != "- ":
            self.lines.append((self.quote, self.current.strip()))
        self.current = ""
        if blank and self.lines and self.lines[-1][1]:
            self.lines.append((0, ""))

    def text(self) -> str:
        self._break(False)
        return "\n".join(("> " * depth) + line for depth, line in self.lines).strip()

"""E-mail messages as documents: the author's own words, without quotes, signatures or attachments.

A reply repeats the message it answers; keeping the quoted text would put the same passage in
the dataset once per reply and credit it to the wrong author, so quotes and the "On ... wrote:"
line above them are cut. Signatures are contact details, not content.

The names of the people in a message (its From/To/Cc display names and the name in its signature
block or under its sign-off) travel with the document as ``_names``, private to the pipeline: the
redaction stage replaces them wherever they occur in the text and then drops the list.
"""

from __future__ import annotations

import email
import email.errors
import re
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

# Headers kept as provenance: meta key -> header name.
HEADERS = {
    "subject": "Subject",
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "date": "Date",
    "message_id": "Message-ID",
    "in_reply_to": "In-Reply-To",
    "references": "References",
}
_PEOPLE_HEADERS = ("From", "To", "Cc", "Bcc", "Reply-To", "Sender")
# Display names that name a list or a team, not a person ("All Staff", "IT Support").
GROUP_WORDS = frozenset(
    "all staff team teams everyone engineering support sales marketing finance operations ops hr it "
    "admin admins administrator info office help helpdesk desk service services customer customers "
    "billing accounts noreply no-reply reply notifications notification newsletter news list group "
    "department dept board management security legal payroll reception announcements updates "
    "the and of for at company inc ltd llc gmbh corp".split()
)
_PARTICLES = frozenset("van von de da del der den di du la le bin al y".split())
_TITLES = frozenset("mr mrs ms miss mx dr prof sir madam herr frau".split())
# Defects that mean the MIME structure itself is lost, so no part can be trusted.
_STRUCTURAL = (email.errors.NoBoundaryInMultipartDefect, email.errors.StartBoundaryNotFoundDefect)
_SIGNATURE = ("-- ", "--")
_ORIGINAL = re.compile(r"^\s*-{3,}\s*Original Message\s*-{3,}\s*$", re.IGNORECASE)
# The line that introduces a quote: "On <date>, <name> wrote:", "<name> writes:", "Excerpts from
# <name>'s message of <date>:", "Quoting <name>:", and the same in French, German and Spanish.
_WROTE = re.compile(
    r"(?:\b(?:wrote|writes|said|schrieb|escribió|scripsit)|a écrit|\bmessage of\b.*)\s*:\s*$"
    r"|^\s*(?:Quoting|Excerpts from)\b.*:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:On|Am|Le|El|Quoting|Excerpts from)\b|^\S+(?: \S+){0,4} (?:wrote|writes):", re.IGNORECASE
)
# Trailers of a patch or a list mail: who signed, reviewed, tested; not the author's words.
_TRAILER = re.compile(
    r"^(?:Signed-off-by|Reviewed-by|Acked-by|Tested-by|Reported-by|Suggested-by|"
    r"Co-developed-by|Reported-and-tested-by|Requested-by|Helped-by|Mentored-by|Cc|CC|"
    r"Fixes|Link|Closes|Change-Id|Bug|BugLink)\s*:\s+\S",
    re.IGNORECASE,
)
# Where a list footer or an archive's attachment note begins: everything after it is the list's.
_FOOTER = re.compile(
    r"^(?:_{5,}\s*$|-{5,} ?next part ?-{5,}|You received this message because you are "
    r"subscribed|To unsubscribe from this group|An? (?:HTML|non-text) attachment was scrubbed)",
    re.IGNORECASE,
)
_LIST_WORDS = re.compile(r"mailing list|listinfo|lists?\.|unsubscribe|/mailman/", re.IGNORECASE)
# A patch: git's diff header, or a unified diff's file and hunk headers.
_DIFF = re.compile(r"^diff --git |^--- \S.*\n\+\+\+ \S.*\n@@ ", re.MULTILINE)
# Mail written by a machine: bounces, out-of-office replies, notifications (RFC 3834 headers first).
_AUTO_SUBJECT = re.compile(
    r"^(?:undeliver|delivery status notification|delivery failure|mail delivery|"
    r"returned mail|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|"
    r"out of (?:the )?office|auto:|away from)",
    re.IGNORECASE,
)
# Bots sign as such: "kernel test robot <lkp@intel.com>", syzbot, "github-actions[bot]", patchwork-bot.
_AUTO_SENDER = re.compile(
    r"mailer-daemon|postmaster@|no-?reply@|notifications?@|bounces?@"
    r"|\brobot\b|\[bot\]|\bsyzbot\b|-bot\b|\bbot@",
    re.IGNORECASE,
)
# What git format-patch writes between a patch's description and its diff, and a cover letter's
# summary: the diffstat (" path | 12 +-", "3 files changed, ...") and the shortlog ("Jane (2):").
_DIFFSTAT = re.compile(
    r"^\s*\S+\s+\|\s+(?:\d+ ?[-+]*|Bin \d+ -> \d+ bytes)\s*$"
    r"|^\s*\d+ files? changed(?:, \d+ insertions?\(\+\))?(?:, \d+ deletions?\(-\))?\s*$"
)
_SHORTLOG_AUTHOR = re.compile(r"^\S.{0,60} \(\d+\):\s*$")
_MANGLED_FROM = re.compile(r"^>(>*From )", re.MULTILINE)


class BrokenMessage(ValueError):
    """The bytes do not parse into a message whose text can be read."""


class NoTextPart(ValueError):
    """The message parses but has no text/plain or text/html part (attachments only)."""


class AutoGenerated(ValueError):
    """A message written by a machine (a bounce, an auto-reply, a notification): no one's words."""


def auto_generated(msg: EmailMessage) -> str:
    """Why a message was written by a machine, or "" for a person's mail."""
    submitted = _header(msg, "Auto-Submitted").lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond"):  # not X-Auto-Response-Suppress: Outlook sets it on all mail
        if _header(msg, name):
            return name
    if _header(msg, "Precedence").lower() in ("auto_reply", "junk"):
        return f"Precedence: {_header(msg, 'Precedence').lower()}"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if _AUTO_SUBJECT.match(_header(msg, "Subject")):
        return f"subject {_header(msg, 'Subject')[:40]!r}"
    if _AUTO_SENDER.search(_header(msg, "From")):
        return f"sender {_header(msg, 'From')[:40]!r}"
    return ""


def is_patch(body: str) -> bool:
    """A patch mail: git's diff header or a unified diff with its file and hunk headers."""
    return _DIFF.search(body) is not None


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
    fields: dict = {key: _header(msg, name) for key, name in HEADERS.items()}
    machine = auto_generated(msg)
    if machine:
        raise AutoGenerated(machine)
    raw_body = _body(msg)
    if mbox:
        # mbox files escape body lines starting with "From " as ">From "; undo it before quotes are cut.
        raw_body = _MANGLED_FROM.sub(r"\1", raw_body)
    cleaning: dict[str, int] = {}
    body = clean_body(raw_body, cleaning)
    if is_patch(body):
        fields["patch"] = True
    if cleaning:
        fields["_cleaning"] = cleaning
    fields["_names"] = merge_names(header_names(msg) + signature_names(raw_body))
    if not body:
        return "", fields
    return (f"Subject: {fields['subject']}\n\n{body}" if fields["subject"] else body), fields


def merge_names(names: list[str]) -> list[str]:
    """Each person once: "Priya" under a sign-off is the "Priya Raman" of the From header."""
    merged: list[str] = []
    for name in names:
        if not any(set(name.split()) <= set(known.split()) for known in merged):
            merged.append(name)
    return merged


def header_names(msg: EmailMessage) -> list[str]:
    """People named in the address headers: display names, else a first.last address's name."""
    values = []
    for name in _PEOPLE_HEADERS:
        try:  # decoded, so "=?utf-8?q?Ren=C3=A9?=" is the René of the text
            values += [str(v) for v in msg.get_all(name) or []]
        except Exception:  # a header the parser chokes on: its raw text still names people
            values += [v for k, v in msg.raw_items() if k.lower() == name.lower()]
    names = []
    try:
        pairs = getaddresses([" ".join(str(v).split()) for v in values])
    except Exception:  # a header too broken to split into addresses still names no one we can find
        return names
    for display, address in pairs:
        name = person_name(display) or name_from_address(address)
        if name:
            names.append(name)
    return names


def person_name(text: str) -> str:
    """A person's name ("Priya Raman", "Raman, Priya", "Dr. Ana de la Cruz"), or "" for anything else."""
    text = " ".join(text.replace('"', " ").split()).strip(" '")
    if "," in text:  # "Last, First"
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}"
    tokens = [t for t in text.split() if t.rstrip(".").lower() not in _TITLES]
    if not 1 <= len(tokens) <= 4:
        return ""
    for i, token in enumerate(tokens):
        word = token.replace("-", "").replace("'", "").replace("’", "")
        if not word.isalpha() or token.lower() in GROUP_WORDS:
            return ""
        if not token[0].isupper() and not (0 < i < len(tokens) - 1 and token in _PARTICLES):
            return ""
    return " ".join(tokens)


def name_from_address(address: str) -> str:
    """ "priya.raman@..." -> "Priya Raman"; "" for addresses that spell no person's name."""
    local = address.partition("@")[0]
    parts = re.split(r"[._-]", local)
    if not 2 <= len(parts) <= 3 or not all(len(p) >= 2 and p.isalpha() for p in parts):
        return ""
    if any(p.lower() in GROUP_WORDS for p in parts):
        return ""
    return " ".join(p.capitalize() for p in parts)


def signature_names(body: str) -> list[str]:
    """The name on the first line of the signature block ("-- " and below), and the name under
    the sign-off of the author's own words ("Thanks,\nPriya")."""
    names = []
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if line in _SIGNATURE:
            first = next((ln.strip() for ln in lines[i + 1 : i + 4] if ln.strip()), "")
            name = person_name(re.split(r"\s[|,–-]\s|,|\|", first)[0])
            if name:
                names.append(name)
            break
    own = [ln.strip() for ln in clean_body(body).split("\n") if ln.strip()]
    if len(own) >= 2 and own[-2].endswith(",") and len(own[-2].split()) <= 4:
        name = person_name(own[-1])
        if name:
            names.append(name)
    return names


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


def clean_body(text: str, counts: dict[str, int] | None = None) -> str:
    """Drop the signature, list footer, quoted lines and their attribution line, the trailers of a
    patch (Signed-off-by, Cc, ...), its diffstat and a cover letter's shortlog; trim trailing
    whitespace. ``counts`` gets what went."""
    counts = counts if counts is not None else {}
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    patch = is_patch(text)
    for i, line in enumerate(lines):
        # A patch's own "-- " line before git's version number ends the patch, not a signature
        # block above it; a "--" inside the diff is a removed line, never a signature.
        if line in _SIGNATURE and not (patch and _DIFF.search("\n".join(lines[i:]))):
            lines = lines[:i]
            break
        if _ORIGINAL.match(line) or (
            _FOOTER.match(line) and (not line.startswith("_") or _LIST_WORDS.search("\n".join(lines[i + 1 : i + 5])))
        ):
            counts["list_footer"] = counts.get("list_footer", 0) + (not _ORIGINAL.match(line))
            lines = lines[:i]
            break
    kept: list[str] = []
    in_diff = shortlog = False
    for i, line in enumerate(lines):
        in_diff = in_diff or line.startswith("diff --git ") or (patch and line.startswith("@@ "))
        indented = line.startswith(("  ", "\t")) and bool(line.strip())
        shortlog = shortlog and indented  # a shortlog author's subject lines, up to a blank line
        if (
            not in_diff
            and _SHORTLOG_AUTHOR.match(line)
            and i + 1 < len(lines)
            and lines[i + 1].startswith(("  ", "\t"))
        ):
            shortlog = True
        if shortlog:
            counts["shortlog"] = counts.get("shortlog", 0) + 1
        elif line.startswith(">") and not in_diff:
            if _drop_attribution(kept):
                counts["attribution"] = counts.get("attribution", 0) + 1
            counts["quoted_lines"] = counts.get("quoted_lines", 0) + 1
        elif not in_diff and _TRAILER.match(line):
            counts["trailers"] = counts.get("trailers", 0) + 1
        elif not in_diff and _DIFFSTAT.match(line):
            counts["diffstat"] = counts.get("diffstat", 0) + 1
        else:
            kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _drop_attribution(kept: list[str]) -> bool:
    """Remove the line that introduces a quote ("On <date>, <name> wrote:", "Excerpts from <name>'s
    message of <date>:"), possibly wrapped onto two or three lines; True if one went."""
    j = len(kept) - 1
    while j >= 0 and not kept[j].strip():
        j -= 1
    if j < 0 or not _WROTE.search(kept[j]):
        return False
    for start in (j - 2, j - 1, j):  # the longest wrapped form first: "On <date>, <name>\n<address> wrote:"
        if start >= 0 and _ATTRIBUTION_START.match(kept[start]) and all(kept[k].strip() for k in range(start, j + 1)):
            del kept[start:]
            return True
    if len(kept[j].split()) <= 12:  # "Jane Doe <jane@...> writes:" and other one-line forms
        del kept[j:]
        return True
    return False


def html_to_text(html: str) -> str:
    """Plain text from an e-mail's HTML part; <blockquote> becomes "> " lines so quotes are cut the same way."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return parser.text()


class _HTMLText(HTMLParser):
    _HIDDEN = {"script", "style", "head", "title", "template"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
        "hr",
    }
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

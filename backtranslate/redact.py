"""Stage: replace personal data and secrets with placeholders before any other stage sees the text.

Mail is what users point this tool at, and the dataset it makes is pushed to a hub and trained on.
Redaction therefore runs on each document as it is read, before threading, cutting, language
detection or generation: every output (pairs, candidates with the model's raw text, rejects,
provenance, the card, logs) is made from the redacted text, so nothing redacted can reach one.

Within a document each value gets one numbered placeholder (``<PERSON_1>``, ``<EMAIL_2>``), the
same wherever it recurs, so "<PERSON_1> asked <PERSON_2>" still reads as a conversation. Counts by
type are kept, never the values.

What is found, and by what:
- e-mail addresses, IPv4/IPv6 addresses (validated by ``ipaddress``), payment cards (issuer prefix
  and Luhn check), IBANs (ISO 13616 mod-97 check), URLs that carry credentials or tokens: small
  regexes here, each with its validator;
- phone numbers: Google's libphonenumber (``phonenumbers``), run only on digit runs that could be
  one, for a few regions (numbers written with +country code are found whatever the region);
- API keys and tokens of known formats: detect-secrets' regex plugins (AWS, GitHub, Slack, Stripe,
  JWT, private keys, ...) and its keyword detector for ``password: ...`` / ``API_KEY=...`` lines;
  passwords announced in prose ("the password is ..."); other long high-entropy tokens;
- names of senders and recipients: given by the e-mail reader (headers and signature block), found
  again wherever they occur in the text, full name, first name or last name alike.

Why not Presidio: its pattern recognizers do run without spaCy models, but importing
``presidio_analyzer`` imports spaCy (5.0 s per run, measured here), its e-mail recognizer's
``tldextract`` fetches the public suffix list over the network on first use and logs a traceback
when offline, and its six recognizers (no secrets) took 3.6 ms on a 400-character passage where
this module, secrets included, takes 1.3 ms. Its phone recognizer is ``phonenumbers``, used here
directly; the rest are regexes with the same checksums (Luhn, mod-97).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from .records import Record, stable_id

log = logging.getLogger(__name__)

PERSON, EMAIL, PHONE, IP, CARD, IBAN, URL = "PERSON", "EMAIL", "PHONE", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "URL"
KEY, PASSWORD = "API_KEY", "PASSWORD"
TYPES = (PERSON, EMAIL, PHONE, IP, CARD, IBAN, URL, KEY, PASSWORD)
# When two findings overlap, the longer wins; on equal length, the earlier type here.
# Validated types (checksums, formats) come before the guesses (entropy, names).
_PRIORITY = {t: i for i, t in enumerate((URL, EMAIL, IBAN, CARD, PASSWORD, KEY, IP, PHONE, PERSON))}
PLACEHOLDER = re.compile(r"<({})_\d+>".format("|".join(TYPES)))

# Regions whose national number formats are recognised (international "+CC ..." numbers are
# recognised for every country). Each region costs one matcher pass over each digit run.
PHONE_REGIONS = ("US", "GB", "DE", "FR")
# Meta fields holding message ids: hashed, not redacted, so threads still link up; ids carry
# user and host names ("7781.jmills@bluefin.example.org").
ID_FIELDS = frozenset({"message_id", "in_reply_to", "references", "thread", "parent"})
# Meta fields that describe where a record came from, not what it says.
_KEEP_FIELDS = frozenset({"source", "format", "row", "date", "parent_source", "parent_row"})
_WINDOW = 65_536  # long documents are scanned in windows, so each library call stays bounded
_OVERLAP = 256  # ... overlapping by more than any finding is long

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)
_URL = re.compile(
    r"\b(?:https?|ftp|sftp|s3|wss?|postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|amqps?)://"
    r"[^\s<>\"'`]+",
    re.I,
)
_URL_CREDENTIALS = re.compile(r"^[a-z0-9+.-]+://[^/@\s:]+:[^/@\s]+@", re.I)
_SECRET_PARAM = re.compile(
    r"[?&#;](?:[\w.-]*?(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|auth|"
    r"signature|sig|session|sessionid|sid|code|key|credential|jwt|hash))=[^&#\s]+",
    re.I,
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){2,7}(?::|[0-9A-Fa-f]{1,4})(?![\w:])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|64[4-9]|65|62)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_DIGIT = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d \t().\-/]{5,24}\d")
# A password or PIN announced in prose or config: "the password is X", "Password: X", "PIN 4821".
_PASSWORD = re.compile(
    # "::" after the word is a code path ("use std::pin::Pin;"), never a value announced.
    r"\b(?:password|passwort|passwd|passcode|pwd|kennwort|mot de passe|contrase[ñn]a|pin)\b(?!::)"
    r"(?:\s+(?:is|was|will be|ist|lautet|est|es)\b)?\s*[:=]?\s*[\"'“‘]?(?P<value>[^\s\"'”’<>]{4,})",
    re.I,
)
_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9+/=_.-]{20,}(?![\w/+=-])")
_MIN_ENTROPY = 3.0  # bits per character; file paths and joined words can pass it too, hence the
# shape checks of _looks_random as well


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    type: str
    key: str  # the normalised value: one placeholder per key within a document


@dataclass
class Placeholders:
    """The numbering of one document: the same value gets the same placeholder everywhere in it."""

    numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    next: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)  # replacements by type

    def get(self, kind: str, key: str) -> str:
        number = self.numbers.get((kind, key))
        if number is None:
            self.next[kind] += 1
            number = self.numbers[(kind, key)] = self.next[kind]
        self.counts[kind] += 1
        return f"<{kind}_{number}>"


@dataclass
class RedactionStats:
    """Totals over the run: documents seen and redacted, replacements by type (never values)."""

    documents: int = 0
    redacted: int = 0
    failed: int = 0  # documents skipped because redaction raised
    by_type: Counter = field(default_factory=Counter)

    def add(self, counts: dict[str, int]) -> None:
        self.documents += 1
        self.redacted += bool(counts)
        self.by_type.update(counts)

    def to_dict(self, enabled: bool) -> dict[str, Any]:
        return {
            "enabled": enabled,
            "documents": self.documents,
            "documents_redacted": self.redacted,
            "failed": self.failed,
            "total": sum(self.by_type.values()),
            "by_type": dict(self.by_type.most_common()),
        }


class Redactor:
    """Find and replace personal data and secrets; one instance serves a whole run.

    ``known_names`` are people named anywhere in the corpus (mail headers and signatures, see
    :func:`corpus_names`): a colleague mentioned in a message she neither sent nor received is
    still someone's name."""

    def __init__(self, phone_regions: tuple[str, ...] = PHONE_REGIONS, known_names: Iterable[str] = ()) -> None:
        self.phone_regions = phone_regions
        self._known = _name_pattern(known_names)
        from detect_secrets.plugins.keyword import KeywordDetector

        self._secret_plugins = _detect_secrets_plugins()
        self._keyword_detector = KeywordDetector()

    # --- whole records -------------------------------------------------------------------------

    def record(self, record: Record) -> Record:
        """The record with its text, input and provenance redacted; ``meta["redactions"]`` counts
        the replacements by type. Names handed over by the reader (``meta["_names"]``) are used
        and dropped."""
        names = record.meta.get("_names") or []
        doc = Placeholders()
        text_input = self.text(record.input, names, doc) if record.input else ""
        output = self.text(record.output, names, doc)
        meta = {k: self._meta(k, v, names, doc) for k, v in record.meta.items() if not k.startswith("_")}
        meta["redactions"] = dict(doc.counts)
        return Record(output=output, instruction=record.instruction, input=text_input, id=record.id, meta=meta)

    def records(self, records: Iterable[Record], stats: RedactionStats) -> Iterator[Record]:
        for record in records:
            try:
                redacted = self.record(record)
            except Exception as e:  # a document we cannot redact is dropped, never passed on as it is
                stats.failed += 1
                log.warning(
                    "redaction failed on %s#%s (%s); document skipped",
                    record.meta.get("source"),
                    record.meta.get("row"),
                    type(e).__name__,
                )
                continue
            stats.add(redacted.meta["redactions"])
            yield redacted

    def _meta(self, key: str, value: Any, names: list[str], doc: Placeholders) -> Any:
        if key in ID_FIELDS and isinstance(value, str):
            return hash_ids(value)
        if key in _KEEP_FIELDS:
            return value
        if isinstance(value, str):
            return self.text(value, names, doc)
        if isinstance(value, list):
            return [self.text(v, names, doc) if isinstance(v, str) else v for v in value]
        return value

    # --- text ----------------------------------------------------------------------------------

    def text(self, text: str, names: Iterable[str] = (), doc: Optional[Placeholders] = None) -> str:
        doc = doc if doc is not None else Placeholders()
        findings = self.find(text, names)
        if not findings:
            return text
        parts, pos = [], 0
        for f in findings:
            parts += [text[pos : f.start], doc.get(f.type, f.key)]
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def find(self, text: str, names: Iterable[str] = ()) -> list[Finding]:
        """Non-overlapping findings in text order."""
        name_pattern, canonical = _name_pattern(names)
        found: list[Finding] = []
        for offset in range(0, max(len(text), 1), _WINDOW):
            window = text[offset : offset + _WINDOW + _OVERLAP]
            for f in self._find_window(window, name_pattern, canonical):
                found.append(Finding(f.start + offset, f.end + offset, f.type, f.key))
        return _resolve(found)

    def _find_window(self, text: str, names: Optional[re.Pattern], canonical: dict[str, str]) -> list[Finding]:
        found: list[Finding] = []
        if "@" in text:
            found += [Finding(m.start(), m.end(), EMAIL, m.group(0).lower()) for m in _EMAIL.finditer(text)]
        if "://" in text:
            found += _urls(text)
        found += _ips(text)
        found += _ibans(text)
        found += self._secrets(text)
        if _has_digits(text, 7):
            found += _cards(text)
            # Last, and only on digit runs nothing else claimed: the phone matcher is the slow one.
            found += list(_phones(text, self.phone_regions, found))
        for pattern, forms in ((names, canonical), self._known):
            if pattern is not None:
                found += [Finding(m.start(), m.end(), PERSON, forms[m.group(0)]) for m in pattern.finditer(text)]
        return found

    def _secrets(self, text: str) -> Iterator[Finding]:
        # Each check runs only on the lines that could hold its secret, found by fast scans, so
        # a 50 MB document of prose costs a few passes of C code, not 25 regexes over all of it.
        lowered = text.lower()
        for start, line in _lines_with(text, _around_words(lowered, _SECRET_WORDS)):
            for m in _PASSWORD.finditer(line):
                value = m.group("value").rstrip(".,;:!?)")
                if _password_like(value):
                    yield Finding(start + m.start("value"), start + m.start("value") + len(value), PASSWORD, value)
            yield from _keyword_secrets(self._keyword_detector, line, start)
        key_spots = [m.start() for m in _LONG_TOKEN.finditer(text)]
        key_spots += _around_words(lowered, ("private key",))
        for start, line in _lines_with(text, sorted(key_spots)):
            for plugin in self._secret_plugins:
                for value in set(plugin.analyze_string(line)):
                    if len(value) >= 8:  # some plugins yield a fragment such as a key's prefix
                        yield from _occurrences(line, value, KEY, start)
        for m in _TOKEN.finditer(text):
            token = m.group(0).rstrip(".=-_")
            if _looks_random(token):
                yield Finding(m.start(), m.start() + len(token), KEY, token)


def corpus_names(documents: Iterable[Record]) -> list[str]:
    """Every name the reader found in the documents' headers and signatures (``meta["_names"]``),
    once each, in order of first appearance."""
    seen: dict[str, None] = {}
    for doc in documents:
        for name in doc.meta.get("_names") or []:
            seen.setdefault(" ".join(name.split()), None)
    return [n for n in seen if n]


def count_placeholders(*texts: str) -> dict[str, int]:
    """Redactions in a piece of redacted text, by type: the per-record count of a passage."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(m.group(1) for m in PLACEHOLDER.finditer(text))
    return dict(counts)


def hash_ids(value: str) -> str:
    """Message ids as short hashes: equal ids stay equal, so threads still link up."""
    ids = re.findall(r"<[^<>]*>", value) or value.split()
    return " ".join(f"msg-{stable_id(i)}" for i in ids)


# --- recognizers ------------------------------------------------------------------------------


def _has_digits(text: str, n: int) -> bool:
    return sum(1 for _ in itertools.islice(_DIGIT.finditer(text), n)) == n


def _urls(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?)]}")
        rest = url.split("://", 1)[1]
        path = rest[rest.find("/") :] if "/" in rest else ""  # the host names a service, not a secret
        if (
            _URL_CREDENTIALS.match(url)
            or _SECRET_PARAM.search(url)
            or any(_looks_random(part) for part in re.split(r"[/?&=#]", path))
        ):
            yield Finding(m.start(), m.start() + len(url), URL, url)


def _ips(text: str) -> Iterator[Finding]:
    if "." in text:
        for m in _IPV4.finditer(text):
            try:
                ip = ipaddress.IPv4Address(m.group(0))
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_unspecified):  # 127.0.0.1 and 0.0.0.0 identify no one
                yield Finding(m.start(), m.end(), IP, str(ip))
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            try:
                ip6 = ipaddress.IPv6Address(m.group(0))
            except ValueError:
                continue
            if not (ip6.is_loopback or ip6.is_unspecified):
                yield Finding(m.start(), m.end(), IP, str(ip6))


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and _luhn(digits):
            yield Finding(m.start(), m.end(), CARD, digits)


def _iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return 15 <= len(iban) <= 34 and int(number) % 97 == 1


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        compact = m.group(0).replace(" ", "")
        if _iban_valid(compact):
            yield Finding(m.start(), m.end(), IBAN, compact)


# A patch's subject tag: its numbers ("07/27 5.10.y") are a counter and a branch, never a phone.
_PATCH_TAG = re.compile(r"\[[^\]\n]{0,60}\bPATCH\b[^\]\n]{0,60}\]", re.I)


def _phones(text: str, regions: tuple[str, ...], claimed: list[Finding]) -> Iterator[Finding]:
    # The matcher is thorough but slow on long text; give it only digit runs that could be
    # numbers, with a little context on either side.
    taken = sorted([(f.start, f.end) for f in claimed] + [m.span() for m in _PATCH_TAG.finditer(text)])
    for run in _DIGIT_RUN.finditer(text):
        if sum(c.isdigit() for c in run.group(0)) < 7 or _DATE_OR_TIME.fullmatch(run.group(0).strip()):
            continue
        if _inside(taken, run.start(), run.end()):
            continue
        start = max(0, run.start() - 8)  # room for a "+" or "tel." before the digits
        for s, e, key in _phone_matches(text[start : run.end() + 8], regions):
            yield Finding(start + s, start + e, PHONE, key)


@functools.lru_cache(maxsize=4096)  # tables repeat their numbers; each snippet is matched once
def _phone_matches(snippet: str, regions: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    """(start, end, E.164) of the numbers in a snippet, for the first region that finds any
    (the first region finds every number written with "+" and its country code)."""
    import phonenumbers

    for region in regions:
        found = tuple(
            (m.start, m.end, phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164))
            for m in phonenumbers.PhoneNumberMatcher(snippet, region, leniency=phonenumbers.Leniency.VALID)
        )
        if found:
            return found
    return ()


_DATE_OR_TIME = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?")


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Is [start, end) within one of the (sorted) spans?"""
    i = bisect.bisect_right(spans, (start, math.inf)) - 1
    return i >= 0 and spans[i][0] <= start and end <= spans[i][1]


def _detect_secrets_plugins() -> list:
    """detect-secrets' known-format plugins; IPs and URL credentials are recognised above."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    skip = {"IPPublicDetector", "BasicAuthDetector"}
    return [
        cls()
        for cls in get_mapping_from_secret_type_to_class().values()
        if issubclass(cls, RegexBasedDetector) and cls.__name__ not in skip
    ]


_SECRET_WORDS = ("pass", "pwd", "secret", "key", "token", "contras", "kennwort", "pin")
_PASSWORD_KEYWORD = re.compile(r"pass|pwd|contras|kennwort", re.I)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{16,}")  # every known key format is at least this long
_LINE_REACH = 512  # a "line" of a document without line breaks: this much on each side


def _around_words(lowered: str, words: tuple[str, ...]) -> list[int]:
    """Positions of the words in the lowercased text (str.find: a C scan, no regex)."""
    spots = []
    for word in words:
        pos = lowered.find(word)
        while pos != -1:
            spots.append(pos)
            pos = lowered.find(word, pos + len(word))
    return sorted(spots)


def _lines_with(text: str, spots: list[int]) -> Iterator[tuple[int, str]]:
    """(start, line) of each line holding a spot, each line once, at most _LINE_REACH either side."""
    done = -1
    for pos in spots:
        if pos < done:
            continue
        start = max(text.rfind("\n", 0, pos) + 1, pos - _LINE_REACH)
        end = text.find("\n", pos, pos + _LINE_REACH)
        done = end if end != -1 else min(len(text), pos + _LINE_REACH)
        yield start, text[start:done]


def _keyword_secrets(detector: Any, line: str, line_start: int) -> Iterator[Finding]:
    # The YAML rules catch "key: value" and "KEY=value", the forms secrets take in mail and notes.
    found = detector.analyze_line(filename="notes.yaml", line=line, line_number=1)
    # Its value runs to the end of the line ("password: X. Then more prose"); the secret is the first word.
    values = {s.secret_value.split()[0].rstrip(".,;:!?)") for s in found if s.secret_value and s.secret_value.strip()}
    for value in values:
        if len(value) < 4 or PLACEHOLDER.fullmatch(value):
            continue
        pos = line.find(value)
        kind = PASSWORD if _PASSWORD_KEYWORD.search(line[max(pos - 24, 0) : max(pos, 0)]) else KEY  # its own keyword
        yield from _occurrences(line, value, kind, line_start)


def _occurrences(text: str, value: str, kind: str, offset: int = 0) -> Iterator[Finding]:
    pos = text.find(value)
    while pos != -1:
        yield Finding(offset + pos, offset + pos + len(value), kind, value)
        pos = text.find(value, pos + len(value))


def _password_like(value: str) -> bool:
    """A password has a digit or a symbol, or mixed case: "hunter2horse", "Tr0ub4dor&3", not "policy"."""
    if PLACEHOLDER.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    mixed = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    return has_digit or has_symbol or mixed


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    """A long token with letters and digits and a high per-character entropy, not made of words:
    "Budgets/2025/Q2-draft-v1" is a path; "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" is a key."""
    if len(token) < 20 or sum(c.isalpha() for c in token) < 4:
        return False
    if _entropy(token) < _MIN_ENTROPY:
        return False
    pieces = [p for p in re.split(r"[^A-Za-z0-9]", token) if p]
    # A git object id is no key: a patch's "index 1a2b3c4d5e6f..7a8b9c0d1e2f", "base-commit: <40 hex>",
    # a commit link "github.com/org/repo/commit/<40 hex>".
    return any(_random_piece(p) for p in pieces if not _GIT_ID.fullmatch(p))


# Git object ids, whole (40 or 64 lowercase hex) or abbreviated (up to 16): every patch mail has
# them, and the real-mail benchmark found each "index" line of a diff redacted as an API key.
# A 32-hex token (an MD5-shaped key) is still checked.
_GIT_ID = re.compile(r"[0-9a-f]{7,16}|[0-9a-f]{40}|[0-9a-f]{64}")


_CAMEL = re.compile(r"[a-z]*(?:[A-Z][a-z]+)+[A-Z]?")


def _random_piece(piece: str) -> bool:
    if len(piece) < 8 or piece.isdigit():
        return False
    if piece.isalpha():  # a word, ACRONYM or CamelCase name is not random; rAnDoM case is
        return not (piece.islower() or piece.isupper() or _CAMEL.fullmatch(piece))
    # letters and digits mixed: random unless it is a word with a number stuck on ("release2025")
    return not re.fullmatch(r"[A-Za-z]+\d{1,4}|\d{1,4}[A-Za-z]+", piece)


# --- names ----------------------------------------------------------------------------------


def _name_pattern(names: Iterable[str]) -> tuple[Optional[re.Pattern], dict[str, str]]:
    """One regex for every form of every name (full, first, last), and the form -> person map."""
    canonical: dict[str, str] = {}
    for name in names:
        full = " ".join(name.split())
        if not full:
            continue
        canonical.setdefault(full, full)
        for token in full.split():
            if len(token) >= 2 and token[0].isupper():
                canonical.setdefault(token, full)  # a first name shared by two people maps to the first
    if not canonical:
        return None, canonical
    forms = sorted(canonical, key=len, reverse=True)  # "Priya Raman" before "Priya"
    return re.compile(r"(?<![\w<])(?:{})(?![\w>])".format("|".join(re.escape(f) for f in forms))), canonical


def _resolve(found: list[Finding]) -> list[Finding]:
    """Overlapping findings become one, typed by the longer: an e-mail inside a URL goes with the
    URL, and no part of either is left in the clear."""
    found.sort(key=lambda f: (f.start, -(f.end - f.start), _PRIORITY[f.type]))
    kept: list[Finding] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            last = kept[-1]
            winner = max(last, f, key=lambda x: (x.end - x.start, -_PRIORITY[x.type]))
            kept[-1] = Finding(last.start, max(last.end, f.end), winner.type, winner.key)
        else:
            kept.append(f)
    return kept

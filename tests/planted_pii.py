"""A corpus with personal data and secrets planted in it, every value known: the redaction leak
test (tests/test_redact_leaks.py) and the recall/precision benchmark (benchmarks/redaction.py).

``build(folder)`` writes .eml files, one .mbox, .md notes, .html pages and a .jsonl file of
support tickets, and returns every planted item as (type, value, where). Values are random but
seeded, valid where the real thing is checked (Luhn card numbers, mod-97 IBANs, phone numbers in
real number plans), and set in ordinary sentences beside look-alikes that are not personal data
(amounts, dates, versions, ticket numbers, plain links), which keep the precision figure honest.

``hard=True`` (the benchmark only) also plants forms the redactor is not built to catch, each
marked ``hard``: a spelled-out address, a phone number without its area code, a password of
letters only, a colleague named in the text but not in the headers, a card number written with
dots. They show what recall looks like beyond the supported forms; the leak test leaves them out.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

FIRST = (
    "Ingrid Tobias Yusuf Marisol Kenji Aurelie Leocadia Thaddeus Oksana Ravindra Celestine Evander "
    "Zofia Anselm Mireille Casimir"
).split()
LAST = (
    "Valdemarsson Okonkwo Brannigan Fitzwilliam Nakashima Oyelaran Whitcombe Quist Szymanska Abernathy "
    "Delacroix Wojcik Halvorsen Ferreira Ilunga Petrakis"
).split()
DOMAINS = ("lumenfield.example.com", "harborline.example.org", "quillstone.example.net")

# Text that looks a little like personal data and is not: must survive redaction.
NEGATIVES = (
    "The Q3 budget came in at $48,000, up 18% on 2025-01-06's forecast.",
    "Ticket #5521 was closed on 14.03.2025 at 15:00 after the upgrade to version 4.18.2.",
    "The guide is at https://docs.example.com/guide/setup-vpn and the file is Budgets/2025/Q2-draft-v1.xlsx.",
    "Order 1002345 ships from warehouse 7 in room 3.12; see KubernetesDeploymentController for details.",
    "We measured 1,284 requests per second and 99.95% availability over 30 days.",
    "The internationalization work lands in release 2025.3 with build 20250314.",
)


@dataclass(frozen=True)
class Planted:
    type: str  # one of backtranslate.redact.TYPES
    value: str
    where: str  # file, or file#row for .mbox and .jsonl
    hard: str = ""  # for forms the redactor is not built for: what the form is


class Planter:
    """Random valid values of every kind, each recorded where it is planted."""

    def __init__(self, seed: int = 0, hard: bool = False) -> None:
        self.rng = random.Random(seed)
        self.hard = hard
        self.items: list[Planted] = []
        self.people = list(zip(FIRST, self.rng.sample(LAST, len(LAST))))

    def plant(self, kind: str, value: str, where: str, hard: str = "") -> str:
        self.items.append(Planted(kind, value, where, hard))
        return value

    def _chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def token(self, n: int) -> str:
        """Random base62 with at least two digits and both cases, as real keys are."""
        while True:
            t = self._chars(string.ascii_letters + string.digits, n)
            if sum(c.isdigit() for c in t) >= 2 and any(c.islower() for c in t) and any(c.isupper() for c in t):
                return t

    # --- values of each kind ---------------------------------------------------------------

    def email(self, person: tuple[str, str]) -> str:
        first, last = person
        local = self.rng.choice([f"{first}.{last}", f"{first[0]}.{last}", f"{first}{self.rng.randint(1, 99)}"])
        return f"{local.lower()}@{self.rng.choice(DOMAINS)}"

    def phone(self) -> str:
        r, d = self.rng, lambda n: self._chars(string.digits, n)
        area = r.choice(["206", "415", "312", "617", "212"])
        return r.choice(
            [
                f"+1 ({area}) 555-01{d(2)}",
                f"({area}) 555-01{d(2)}",
                f"{area}-555-01{d(2)}",
                f"+1 {area} 555 01{d(2)}",
                f"+44 20 7946 0{d(3)}",
                f"+49 30 {r.randint(2, 9)}{d(7)}",
                f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
                f"+49 89 {r.randint(2, 9)}{d(6)}",
            ]
        )

    def ip(self) -> str:
        r = self.rng
        if r.random() < 0.25:
            groups = ["2001", "db8"] + [f"{r.randint(1, 0xFFFF):x}" for _ in range(r.choice([2, 3]))]
            return ":".join(groups[:2]) + "::" + ":".join(groups[2:])
        first = r.choice([10, 172, 192, 51, 83, 145, 203])
        return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def card(self) -> str:
        r = self.rng
        prefix, length = r.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("34", 15)])
        body = prefix + self._chars(string.digits, length - len(prefix) - 1)
        digits = body + _luhn_digit(body)
        if length == 15:  # Amex: 4-6-5
            return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
        sep = r.choice([" ", "-", ""])
        return sep.join(digits[i : i + 4] for i in range(0, 16, 4))

    def iban(self) -> str:
        r = self.rng
        country, bban = r.choice(
            [
                ("DE", self._chars(string.digits, 18)),
                ("GB", self._chars(string.ascii_uppercase, 4) + self._chars(string.digits, 14)),
                ("NL", self._chars(string.ascii_uppercase, 4) + self._chars(string.digits, 10)),
                (
                    "FR",
                    self._chars(string.digits, 10)
                    + self._chars(string.ascii_uppercase + string.digits, 11)
                    + self._chars(string.digits, 2),
                ),
            ]
        )
        iban = country + _iban_check(country, bban) + bban
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if r.random() < 0.6 else iban

    def url(self) -> str:
        r, host = self.rng, self.rng.choice(DOMAINS)
        return r.choice(
            [
                f"https://portal.{host}/account/reset?token={self.token(28)}",
                f"https://svc_backup:{self.token(14)}@db.{host}/admin",
                f"https://files.{host}/share/{self.token(32)}?expires=86400",
                f"https://hooks.slack.com/services/T{self.token(8).upper()}/B{self.token(8).upper()}/{self.token(24)}",
                f"https://api.{host}/v2/export?api_key={self.token(32)}&format=csv",
            ]
        )

    def api_key(self) -> str:
        r = self.rng
        return r.choice(
            [
                "AKIA" + self._chars(string.ascii_uppercase + string.digits, 16),
                "ghp_" + self.token(36),
                f"xoxb-{self._chars(string.digits, 11)}-{self._chars(string.digits, 12)}-{self.token(24)}",
                "sk_live_" + self.token(24),
                self.token(40),
            ]
        )

    def password(self) -> str:
        r = self.rng
        word = r.choice(["harbor", "Lantern", "maple", "Quartz", "velvet", "Summit", "orchid"])
        return f"{word}{r.randint(10, 9999)}{r.choice('!#$%&*?')}{r.choice(['', 'Xy', 'zz'])}"

    # --- sentences ---------------------------------------------------------------------------

    def sentence(self, where: str) -> str:
        """One sentence carrying one planted value of a random non-name kind."""
        r = self.rng
        kind = r.choice(["EMAIL", "PHONE", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "URL", "API_KEY", "PASSWORD"])
        if kind == "EMAIL":
            v = self.plant(kind, self.email(r.choice(self.people)), where)
            return r.choice(
                [f"Please write to {v} with the signed form.", f"Copy {v} on the reply, they own the account."]
            )
        if kind == "PHONE":
            v = self.plant(kind, self.phone(), where)
            return r.choice(
                [f"You can reach the site lead on {v} during the day.", f"Call {v} if the alarm goes off again."]
            )
        if kind == "IP_ADDRESS":
            v = self.plant(kind, self.ip(), where)
            return r.choice([f"The backup host answers on {v} since the move.", f"Logins came from {v} last night."])
        if kind == "CREDIT_CARD":
            v = self.plant(kind, self.card(), where)
            return r.choice([f"The team card {v} expires in May.", f"Charge the booking to card number {v}, please."])
        if kind == "IBAN":
            v = self.plant(kind, self.iban(), where)
            return r.choice([f"Refunds go to IBAN {v} from now on.", f"The supplier changed their account to {v}."])
        if kind == "URL":
            v = self.plant(kind, self.url(), where)
            return r.choice([f"The export is at {v} until Friday.", f"Use this link: {v}"])
        if kind == "API_KEY":
            v = self.plant(kind, self.api_key(), where)
            return r.choice(
                [f"The deploy job uses the key {v} for now.", f"api_key: {v}", f"Set TOKEN={v} in the CI settings."]
            )
        v = self.plant(kind, self.password(), where)
        return r.choice(
            [
                f"The Wi-Fi password is {v} this month.",
                f"password: {v}",
                f"Your temporary password: {v}",
                f"Kennwort: {v}",
            ]
        )

    def hard_sentence(self, where: str) -> str:
        r = self.rng
        form = r.choice(
            [
                "spelled-out e-mail",
                "phone without area code",
                "letters-only password",
                "colleague not in the headers",
                "card number with dots",
            ]
        )
        if form == "spelled-out e-mail":
            first, last = r.choice(self.people)
            v = self.plant(
                "EMAIL", f"{first.lower()} dot {last.lower()} at {r.choice(DOMAINS).split('.')[0]} dot com", where, form
            )
            return f"Her private address is {v}, do not share it."
        if form == "phone without area code":
            v = self.plant("PHONE", f"555-01{self._chars(string.digits, 2)}", where, form)
            return f"His desk extension is {v} on weekdays."
        if form == "letters-only password":
            v = self.plant(
                "PASSWORD", r.choice(["correcthorsebattery", "bluelanternsunrise", "quietmaplewinter"]), where, form
            )
            return f"The shared password is {v} for the kiosk."
        if form == "colleague not in the headers":
            first, last = r.choice(self.people)
            v = self.plant("PERSON", f"{first} {last}", where, form)
            return f"I asked {v} to double-check the figures."
        digits = "4" + self._chars(string.digits, 14)
        digits += _luhn_digit(digits)
        v = self.plant("CREDIT_CARD", ".".join(digits[i : i + 4] for i in range(0, 16, 4)), where, form)
        return f"The old card {v} was cancelled."

    def paragraph(self, where: str, n: int) -> str:
        lines = [self.sentence(where) for _ in range(n)]
        if self.hard and self.rng.random() < 0.5:
            lines.append(self.hard_sentence(where))
        lines.insert(self.rng.randrange(len(lines) + 1), self.rng.choice(NEGATIVES))
        return " ".join(lines)

    # --- mail --------------------------------------------------------------------------------

    def message(self, where: str, when: datetime, msg_id: str, parent: str | None = None) -> EmailMessage:
        r = self.rng
        sender, *recipients = r.sample(self.people, 3)
        cc = recipients.pop() if r.random() < 0.5 else None
        msg = EmailMessage()
        name = lambda p: f"{p[0]} {p[1]}"  # noqa: E731
        msg["From"] = f"{name(sender)} <{self.plant('EMAIL', self.email(sender), where)}>"
        msg["To"] = ", ".join(f"{name(p)} <{self.plant('EMAIL', self.email(p), where)}>" for p in recipients)
        if cc:
            msg["Cc"] = f"\"{cc[1]}, {cc[0]}\" <{self.plant('EMAIL', self.email(cc), where)}>"  # "Last, First"
        for p in [sender, *recipients] + ([cc] if cc else []):
            self.plant("PERSON", name(p), where)
        topic = r.choice(["Quarterly access review", "Supplier payment details", "On-call handover", "Travel booking"])
        msg["Subject"] = ("Re: " if parent else "") + topic
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = msg_id
        if parent:
            msg["In-Reply-To"] = parent
            msg["References"] = parent
        greeting = f"Hi {self.plant('PERSON', recipients[0][0], where)},"
        body = "\n\n".join(
            [
                greeting,
                self.paragraph(where, 3),
                self.paragraph(where, 2),
                f"Thanks,\n{self.plant('PERSON', sender[0], where)}",
            ]
        )
        phone = self.plant("PHONE", self.phone(), where)
        signature = f"-- \n{name(sender)}\nOperations, {sender[1]} & Partners\n{phone}"
        msg.set_content(body + "\n\n" + signature + "\n")
        return msg


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _iban_check(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{98 - number % 97:02d}"


def build(
    folder: Path,
    seed: int = 0,
    messages: int = 12,
    mbox_messages: int = 6,
    notes: int = 3,
    pages: int = 2,
    tickets: int = 20,
    hard: bool = False,
) -> list[Planted]:
    """Write the corpus into ``folder``; returns every planted item."""
    p = Planter(seed, hard)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2025, 2, 3, 9, 0, tzinfo=timezone.utc)
    ids = [f"<plant-{i:03d}@{DOMAINS[i % 3]}>" for i in range(messages + mbox_messages)]
    (folder / "mail").mkdir(exist_ok=True)
    for i in range(messages):
        where = f"mail/msg-{i:03d}.eml"
        parent = ids[i - 1] if i % 3 else None  # replies form threads of three
        msg = p.message(where, start + timedelta(hours=i), ids[i], parent)
        (folder / where).write_bytes(bytes(msg))
    box = b""
    for j in range(mbox_messages):
        i = messages + j
        where = f"archive.mbox#{j}"
        msg = p.message(where, start + timedelta(hours=i), ids[i], ids[i - 1] if j % 2 else None)
        box += b"From planted@example.com Mon Feb  3 09:00:00 2025\n" + bytes(msg) + b"\n"
    (folder / "archive.mbox").write_bytes(box)
    for i in range(notes):
        where = f"notes/runbook-{i}.md"
        (folder / "notes").mkdir(exist_ok=True)
        sections = [
            f"# Runbook {i}: service access",
            p.paragraph(where, 3),
            "## Credentials",
            p.paragraph(where, 3),
            "## Contacts",
            p.paragraph(where, 2),
        ]
        (folder / where).write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    for i in range(pages):
        where = f"web/contact-{i}.html"
        (folder / "web").mkdir(exist_ok=True)
        paragraphs = "".join(f"<p>{p.paragraph(where, 2)}</p>" for _ in range(4))
        (folder / where).write_text(
            f"<html><head><title>Contact {i}</title></head><body><main><article><h1>Billing and support contacts</h1>"
            f"{paragraphs}</article></main></body></html>",
            encoding="utf-8",
        )
    with (folder / "tickets.jsonl").open("w", encoding="utf-8") as f:
        for row in range(tickets):
            where = f"tickets.jsonl#{row}"
            text = f"Customer ticket {row}. " + p.paragraph(where, 2) + " Please confirm once this is done."
            f.write(json.dumps({"id": f"T-{row}", "text": text}) + "\n")
    return p.items


def name_tokens(items: list[Planted]) -> set[str]:  # noqa: D401
    """Every first and last name planted: none may be left in any output."""
    return {token for item in items if item.type == "PERSON" for token in item.value.split()}

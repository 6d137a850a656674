"""The one record type that travels through every stage of the pipeline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# The corpus formats whose documents are e-mails (record.meta["format"]): threads, and filters
# that treat mail differently, ask this.
MAIL_FORMATS = frozenset({"eml", "mbox", "maildir"})


@dataclass
class Record:
    """An (instruction, input, output) pair, or a passage that is still waiting for its instruction.

    ``output`` is the response text: a seed response, or a corpus passage that the backward model
    writes an instruction for. ``meta`` carries provenance (source, row, offsets), scores and
    reasons, so every stage can explain what it did with the record.
    """

    output: str
    instruction: str = ""
    input: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = stable_id(self.instruction, self.input, self.output)

    def to_alpaca(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        """A record back from a data.jsonl / candidates.jsonl / rejected.jsonl line."""
        return cls(
            output=row["output"],
            instruction=row["instruction"],
            input=row.get("input", ""),
            id=row.get("id", ""),
            meta=row.get("meta") or {},
        )


def stable_id(*parts: str) -> str:
    """A short content hash: the same text gives the same id on every machine and every run."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


def fingerprint(records: list[Record]) -> str:
    """A hash of the pairs themselves (not their ids or metadata), to tell seed sets apart."""
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r.to_alpaca(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def user_turn(row: dict[str, Any]) -> str:
    """The request as a user writes it: the instruction, then its input (the e-mail answered)."""
    return f"{row['instruction']}\n\n{row['input']}" if row["input"] else row["instruction"]

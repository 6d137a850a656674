"""What kind of task each instruction asks for, and how varied a dataset's tasks are.

Generators collapse onto a few task types: most instructions our backward models write start
"Write", and users of test-set generators report 12 of 20 identical questions. The mix is cheap to
show, so every run shows it (summary, stats.json, card) and warns when it has collapsed.

The taxonomy is small and rule-based, so every label can be explained by the words that made it:

| type | the instruction asks to ... | e.g. starts with / contains |
| --- | --- | --- |
| code | write or change code | write/fix/send/implement ... function, script, SQL, regex, patch, code |
| rewrite | change a given text | rewrite, rephrase, edit, proofread, translate, correct, turn ... into |
| summarize | shorten a text to its gist | summarize, summarise, TL;DR, sum up, write a summary |
| classify | put a text in a category | classify, categorize, label, what is the sentiment/genre, is this A or B |
| extract | pull items out of a text | extract, list the/every, find all, identify the |
| plan | lay out steps or a schedule | plan, outline, schedule, list the steps, checklist, agenda |
| explain | say why or how, or review | explain, why, how does/do/to, describe how, review |
| write | compose a new text | write, draft, compose, create, prepare, reply, email, ask, share |
| answer | answer a question | what, who, when, where, which, is, are, can, give, suggest, ... ? |
| other | anything else | |

Rules are tried in the table's order at the start of the first clause, after lead-ins such as
"please", "can you" or "help me", then of later clauses (context often comes first); a code verb
counts only where a code word follows it in the same sentence. "Write a Python function" is code,
"Write a blog post arguing for plain SQL" is write, "Write a summary" is summarize, "Explain how to
write a plan" is explain (its leading verb), "List every date mentioned ..." is extract, "From the
given invoice, extract ..." is extract. Mix and collapse: ``task_mix``; steering: ``Balance``
(--balance, used by best of K in filters/selection.py).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from .records import Record

TYPES = ("write", "rewrite", "summarize", "extract", "classify", "explain", "answer", "code", "plan", "other")
# The shares above which a run counts as collapsed (the warning in the summary and card).
COLLAPSE_TYPE_SHARE = 0.6
COLLAPSE_OPENING_SHARE = 0.4

# Code: a code word (what is made) in the clause a verb that makes or changes it opens ("Write a
# Rust function", "Send a patch that ..."); a question about programming ("What is a type checker?")
# is an answer, and an essay that mentions SQL ("Write a blog post arguing ... plain SQL") is written.
_CODE_NOUN = (
    r"functions?|scripts?|sql|quer(?:y|ies)|regex|regular expression|programs?|class|methods?|patch(?:es)?|"
    r"unit tests?|tests? for|snippet|enum|struct|trait|stub|module|commands?|code|macro|makefile|dockerfile|yaml"
)
_CODE = re.compile(
    r"^\W*(?:write|review|implement|fix|create|refactor|debug|generate|make|add|complete|convert|modify|update|port|"
    rf"optimi[sz]e|send|submit|provide|craft|remove)\b[^.?!\n]{{0,40}}?\b(?:{_CODE_NOUN})\b",
    re.IGNORECASE,
)
# Politeness and question frames before the verb that says what is asked ("Can you explain ...").
_LEAD_IN = re.compile(
    r"^\W*(?:(?:please|kindly|question:|can you|could you|would you|will you|help me(?: to)?|"
    r"i (?:want|need|would like|'d like) you to)\s+)+",
    re.IGNORECASE,
)
_LEADING = (  # (type, leading words): the instruction's first words decide, in this order
    (
        "rewrite",
        r"rewrite|rephrase|paraphrase|edit|proofread|fact-check|translate|shorten|simplify|reword|correct|"
        r"fix the (?:grammar|spelling|tone|wording)|turn (?:this|these|the|that|it|my)\b[^.?!]* into",
    ),
    (
        "summarize",
        r"summari[sz]e|tl;?dr|sum up|give (?:me )?a (?:brief |short )?summary|write a (?:brief |short )?summary",
    ),
    (
        "classify",
        r"classify|categori[sz]e|label|tag|assign each|is (?:this|the following) .*\b(?:spam|positive|negative)\b|"
        r"is (?:this|the following)\b[^?]*\bor\b|what (?:is|'s) the (?:sentiment|topic|category|genre|tone)\b|"
        r"what (?:genre|category|kind|type)\b|identify the (?:\w+'s )?(?:intent|sentiment|category|topic|tone)\b",
    ),
    (
        "extract",
        r"extract|list (?:the|all|every|each)(?! steps)|find (?:the|all|every)|identify (?:the|all|every|each)|pull out|"
        r"name (?:the|all|every)",
    ),
    ("plan", r"plan|outline|schedule|create a (?:plan|schedule|checklist|agenda)|what are the steps|list the steps"),
    ("explain", r"explain|why|how (?:does|do|did|is|are|can|to)|describe how|what (?:causes|happens)|review|critique"),
    (
        "write",
        r"write|draft|compose|create|prepare|generate|produce|craft|make|send|reply|respond|email|file|list|describe|"
        r"ask|share|report",
    ),
    (
        "answer",
        r"what|who|whom|whose|when|where|which|is|are|was|were|do|does|did|can|could|should|would|will|"
        r"how (?:many|much|long|often)|tell|give|provide|recommend|suggest|calculate|compute|find|convert|"
        r"name|choose|pick|rank|compare|evaluate|predict|estimate|solve|determine|check|answer|help|arrange|sort|put",
    ),
)
_LEADING_RE = [(name, re.compile(rf"^\W*(?:{words})\b", re.IGNORECASE)) for name, words in _LEADING]
_SUMMARY_ANYWHERE = re.compile(r"\b(summary|summari[sz]e|tl;?dr)\b", re.IGNORECASE)


def task_type(instruction: str) -> str:
    """The instruction's task type (one of TYPES), by the rules of the module docstring."""
    text = instruction.strip()
    if re.match(r"\W*(implement|refactor|debug)\b", text, re.I):
        return "code"
    # The first clause decides; where it only sets the scene ("I missed the meeting. Write ...",
    # "From the given invoice, extract ..."), a later one does. A rule reads on past its clause
    # ("Is the following a question, a request, or a statement?").
    for start in [0] + [m.end() for m in re.finditer(r"[.!?:;,]\s+", text)]:
        part = _LEAD_IN.sub("", text[start:])
        if _CODE.search(part):
            return "code"
        for name, pattern in _LEADING_RE:
            if pattern.search(part):
                if name == "write" and _SUMMARY_ANYWHERE.search(text):
                    return "summarize"
                return name
    if text.endswith("?"):
        return "answer"
    return "other"


def opening(instruction: str) -> str:
    """The instruction's first two words, lowercased: where collapse shows first."""
    return " ".join(re.findall(r"[\w']+", instruction.lower())[:2])


def task_mix(instructions: Iterable[str], balance: Optional[str] = None, primed: int = 0) -> dict[str, Any]:
    """Counts per type, the normalized entropy of the mix (0: one type, 1: all equally often),
    the top opening and its share, and a warning where the mix has collapsed; with ``balance``
    (the run's --balance) also the target and, where the mix missed it, a warning that says so.
    ``primed``: how many of the instructions open with --prime's primer (the warning names it)."""
    instructions = list(instructions)
    n = len(instructions)
    types = Counter(task_type(i) for i in instructions)
    openings = Counter(opening(i) for i in instructions)
    entropy = -sum((c / n) * math.log(c / n) for c in types.values()) if n else 0.0
    top_type, top_type_n = types.most_common(1)[0] if n else ("", 0)
    top_opening, top_opening_n = openings.most_common(1)[0] if n else ("", 0)
    mix: dict[str, Any] = {
        "pairs": n,
        "types": {t: types[t] for t in TYPES if types[t]},
        "entropy": abs(round(entropy / math.log(len(TYPES)), 3)) if n else 0.0,  # never -0.0
        "top_type": top_type,
        "top_type_share": round(top_type_n / n, 3) if n else 0.0,
        "top_opening": top_opening,
        "top_opening_share": round(top_opening_n / n, 3) if n else 0.0,
    }
    if balance:
        mix["balance"] = balance
    if primed:
        mix["primed_share"] = round(primed / n, 3)
    mix["warning"] = collapse_warning(mix)
    return mix


def folder_mix(dataset: str | Path) -> dict[str, Any]:
    """The task mix of a dataset folder's kept pairs (its data.jsonl), with the --balance it was
    made with (from stats.json). For benchmarks: the task-type entropy of a run before and after
    --balance is ``folder_mix(out)["entropy"]``."""
    from .io import read_jsonl

    folder = Path(dataset)
    if not (folder / "data.jsonl").is_file():
        raise FileNotFoundError(f"{folder} has no data.jsonl: give a folder written by generate")
    rows = list(read_jsonl(folder / "data.jsonl"))
    stats = folder / "stats.json"
    settings = json.loads(stats.read_text(encoding="utf-8")).get("settings", {}) if stats.is_file() else {}
    primed = sum(bool(row.get("meta", {}).get("primer")) for row in rows)
    return task_mix([row["instruction"] for row in rows], settings.get("balance"), primed)


def collapse_warning(mix: dict[str, Any]) -> str:
    """One sentence with the numbers where the mix collapsed or missed its --balance target, else ''."""
    if mix["pairs"] < 10:  # too few pairs to call anything a collapse
        return ""
    found = []
    if mix["top_type_share"] > COLLAPSE_TYPE_SHARE:
        found.append(f"{mix['top_type_share']:.0%} of the instructions are '{mix['top_type']}' tasks")
    if mix["top_opening_share"] > COLLAPSE_OPENING_SHARE:
        found.append(f"{mix['top_opening_share']:.0%} start with '{mix['top_opening']}'")
    if not mix.get("balance"):
        if not found:
            return ""
        if mix.get("primed_share", 0) > 0.5:
            # Best of K cannot help here: every candidate of a passage shares its primer.
            remedy = (
                f"{mix['primed_share']:.0%} open with --prime's primer for their kind of text; --no-prime lets "
                "the backward model choose, with fewer usable pairs on real corpora (see README)"
            )
        else:
            remedy = (
                "more candidates per passage, --num-candidates 4 --balance uniform, give best of K other kinds to keep"
            )
        return "Task mix collapsed: " + " and ".join(found) + f" ({remedy})."
    target = parse_target(mix["balance"])
    missed = [
        f"{t} {mix['types'].get(t, 0) / mix['pairs']:.0%} (target {share:.0%})"
        for t, share in (target or {}).items()
        if abs(mix["types"].get(t, 0) / mix["pairs"] - share) > BALANCE_TOLERANCE
    ]
    if not found and not missed:
        return ""
    return (
        f"--balance could not reach the target ({mix['balance']}): "
        + "; ".join(missed + ([" and ".join(found)] if found else []))
        + " (the candidates offered too few other kinds: more of them, --num-candidates 8, or a wider "
        "--balance-margin)."
    )


# ------------------------------------------------------------------------------------ --balance

# A named target share counts as missed when the run's share is this far from it (the warning).
BALANCE_TOLERANCE = 0.15
# Candidates within this much of the best relevance may be chosen for their type. On the real-corpus
# runs with 4 candidates (runs/real-bench/v4-k4) the best beat a passing loser by a median 0.13
# cosine, and by at most 0.05 for 15-21% of losers: a near-tie, not a worse instruction.
DEFAULT_MARGIN = 0.05


def parse_target(spec: Optional[str]) -> Optional[dict[str, float]]:
    """--balance: 'uniform' (None: every type seen is as welcome as any other), or shares such as
    'write=0.3,answer=0.2', the rest of 1 spread evenly over the types not named. Raises ValueError
    with a sentence for the user."""
    if spec is None or spec.strip().lower() == "uniform":
        return None
    named: dict[str, float] = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name not in TYPES:
            raise ValueError(f"unknown task type {name!r} in balance: choose from {', '.join(TYPES)}")
        try:
            named[name] = float(value)
        except ValueError:
            raise ValueError(f"balance share of {name!r} must be a number, as in 'write=0.3,answer=0.2'") from None
        if not 0 <= named[name] <= 1:
            raise ValueError(f"balance share of {name!r} must be between 0 and 1")
    if sum(named.values()) > 1 + 1e-9:
        raise ValueError(f"balance shares add up to {sum(named.values()):g}, more than 1")
    rest = [t for t in TYPES if t not in named]
    spread = (1 - sum(named.values())) / len(rest) if rest else 0.0
    return {t: round(named.get(t, spread), 6) for t in TYPES}


class Balance:
    """Best of K's choice among near-ties, steered toward a target task mix (--balance).

    Why among near-ties and not by type first: relevance is what the blind reads found makes an
    instruction fit its passage, so best of K still ranks by it; only the candidates within
    ``margin`` of the best score are close enough to swap, and of those the one whose type is
    furthest under its target share (target minus the share so far) wins, then the higher score,
    then the earlier candidate. A worse instruction is never kept for its type alone.

    What "so far" counts keeps a resumed run byte-identical: ``kept`` holds the types of the pairs
    earlier chunks wrote to data.jsonl (a resumed run recounts them from that file, cut back to the
    last finished chunk), and each chunk starts from those counts and adds its own choices as it
    makes them. So the choice depends only on finished chunks' data and the chunk's own candidates,
    never on when a later filter (curation, batched) got round to a choice.
    """

    def __init__(self, target: Optional[dict[str, float]] = None) -> None:
        self.target = target  # None: uniform over the types seen
        self.kept: Counter = Counter()
        self.counts: Counter = Counter()

    def start_chunk(self) -> None:
        self.counts = Counter(self.kept)

    def keep(self, instruction: str) -> None:
        self.kept[task_type(instruction)] += 1

    def deficit(self, kind: str, in_play: set[str]) -> float:
        """How far the type is under its target share so far (negative: over it)."""
        n = sum(self.counts.values())
        share = self.counts[kind] / n if n else 0.0
        target = self.target.get(kind, 0.0) if self.target is not None else 1 / len(in_play)
        return target - share

    def choose(self, candidates: list[Record], best: Record, score: str, margin: float) -> Record:
        """The candidate to keep of one passage's passing ones; ``best`` is the top-scoring one."""
        top = best.meta.get(score, float("-inf"))
        near = [r for r in candidates if r.meta.get(score, float("-inf")) >= top - margin]
        for r in near:
            r.meta["task_type"] = task_type(r.instruction)
        in_play = {t for t, n in self.counts.items() if n} | {r.meta["task_type"] for r in near}
        chosen = max(
            near,
            key=lambda r: (
                self.deficit(r.meta["task_type"], in_play),
                r.meta.get(score, float("-inf")),
                -r.meta.get("candidate", 0),
            ),
        )
        self.counts[chosen.meta["task_type"]] += 1
        return chosen

"""What kind of task each instruction asks for, and how varied a dataset's tasks are.

Generators collapse onto a few task types: most instructions our backward models write start
"Write", and users of test-set generators report 12 of 20 identical questions. The mix is cheap to
show, so every run shows it (summary, stats.json, card) and warns when it has collapsed.

The taxonomy is small and rule-based, so every label can be explained by the words that made it:

| type | the instruction asks to ... | e.g. starts with / contains |
| --- | --- | --- |
| code | write or change code | write/fix/implement ... function, script, SQL, regex, patch, code |
| rewrite | change a given text | rewrite, rephrase, edit, proofread, translate, shorten |
| summarize | shorten a text to its gist | summarize, summarise, TL;DR, sum up |
| extract | pull items out of a text | extract, list the, find all, identify the |
| classify | put a text in a category | classify, categorize, label, is this ... spam/positive |
| plan | lay out steps or a schedule | plan, outline, schedule, steps to, checklist, agenda |
| explain | say why or how, or review | explain, why, how does, describe how, review |
| write | compose a new text | write, draft, compose, create, prepare, email, list |
| answer | answer a question | what, who, when, where, which, is, are, can, ... ? |
| other | anything else | |

Rules are tried in the table's order on the first sentence, then on later ones (context often
comes first): "Write a Python function" is code, "Write a summary" is summarize, "Explain how to
write a plan" is explain (its leading verb), "List every date mentioned ..." is extract.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

TYPES = ("write", "rewrite", "summarize", "extract", "classify", "explain", "answer", "code", "plan", "other")
# The shares above which a run counts as collapsed (the warning in the summary and card).
COLLAPSE_TYPE_SHARE = 0.6
COLLAPSE_OPENING_SHARE = 0.4

# Code: a code word (what is made) under a verb that makes or changes it ("Write a Rust function",
# "Fix the SQL query"); a question about programming ("What is a type checker?") is an answer.
_CODE_NOUN = re.compile(
    r"\b(functions?|scripts?|sql|quer(?:y|ies)|regex|regular expression|programs?|class|methods?|patch|"
    r"unit tests?|tests? for|snippet|enum|struct|module|commands?|code|macro|makefile|dockerfile|yaml)\b",
    re.IGNORECASE,
)
_CODE_VERB = re.compile(
    r"^\W*(?:please\s+)?(?:write|review|implement|fix|create|refactor|debug|generate|make|add|complete|convert|"
    r"modify|update|port|optimi[sz]e)\b",
    re.IGNORECASE,
)
_LEADING = (  # (type, leading words): the instruction's first words decide, in this order
    (
        "rewrite",
        r"rewrite|rephrase|paraphrase|edit|proofread|translate|shorten|simplify|reword|correct|fix the (?:grammar|spelling|tone|wording)",
    ),
    (
        "summarize",
        r"summari[sz]e|tl;?dr|sum up|give (?:me )?a (?:brief |short )?summary|write a (?:brief |short )?summary",
    ),
    ("extract", r"extract|list (?:the|all)|find (?:the|all)|identify (?:the|all)|pull out|name (?:the|all)"),
    (
        "classify",
        r"classify|categori[sz]e|label|tag|assign each|is (?:this|the following) .*\b(?:spam|positive|negative)\b",
    ),
    ("plan", r"plan|outline|schedule|create a (?:plan|schedule|checklist|agenda)|what are the steps|list the steps"),
    ("explain", r"explain|why|how (?:does|do|did|is|are|can|to)|describe how|what (?:causes|happens)|review|critique"),
    (
        "write",
        r"write|draft|compose|create|prepare|generate|produce|craft|make|send|reply|respond|email|file|list|describe",
    ),
    (
        "answer",
        r"what|who|whom|whose|when|where|which|is|are|was|were|do|does|did|can|could|should|would|will|"
        r"how (?:many|much|long|often)|tell|give|provide|recommend|suggest|calculate|compute|find|convert|"
        r"name|choose|pick|rank|compare|evaluate|predict|estimate|solve|determine|check|answer|help|arrange|sort|put",
    ),
)
_LEADING_RE = [(name, re.compile(rf"^\W*(?:please\s+)?(?:{words})\b", re.IGNORECASE)) for name, words in _LEADING]
_SUMMARY_ANYWHERE = re.compile(r"\b(summary|summari[sz]e|tl;?dr)\b", re.IGNORECASE)


def task_type(instruction: str) -> str:
    """The instruction's task type (one of TYPES), by the rules of the module docstring."""
    text = instruction.strip()
    if _CODE_VERB.search(text) and _CODE_NOUN.search(text) or re.match(r"\W*(implement|refactor|debug)\b", text, re.I):
        return "code"
    # The first sentence decides; where it only sets the scene ("I missed the meeting. Write ..."),
    # a later one does.
    for part in re.split(r"(?<=[.!?:,])\s+", text):
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


def task_mix(instructions: Iterable[str]) -> dict[str, Any]:
    """Counts per type, the normalized entropy of the mix (0: one type, 1: all equally often),
    the top opening and its share, and a warning where the mix has collapsed."""
    instructions = list(instructions)
    n = len(instructions)
    types = Counter(task_type(i) for i in instructions)
    openings = Counter(opening(i) for i in instructions)
    entropy = -sum((c / n) * math.log(c / n) for c in types.values()) if n else 0.0
    top_type, top_type_n = types.most_common(1)[0] if n else ("", 0)
    top_opening, top_opening_n = openings.most_common(1)[0] if n else ("", 0)
    mix = {
        "pairs": n,
        "types": {t: types[t] for t in TYPES if types[t]},
        "entropy": round(entropy / math.log(len(TYPES)), 3) if n else 0.0,
        "top_type": top_type,
        "top_type_share": round(top_type_n / n, 3) if n else 0.0,
        "top_opening": top_opening,
        "top_opening_share": round(top_opening_n / n, 3) if n else 0.0,
    }
    mix["warning"] = collapse_warning(mix)
    return mix


def collapse_warning(mix: dict[str, Any]) -> str:
    """One sentence with the numbers where the mix collapsed, else ''."""
    if mix["pairs"] < 10:  # too few pairs to call anything a collapse
        return ""
    found = []
    if mix["top_type_share"] > COLLAPSE_TYPE_SHARE:
        found.append(f"{mix['top_type_share']:.0%} of the instructions are '{mix['top_type']}' tasks")
    if mix["top_opening_share"] > COLLAPSE_OPENING_SHARE:
        found.append(f"{mix['top_opening_share']:.0%} start with '{mix['top_opening']}'")
    if not found:
        return ""
    return (
        "Task mix collapsed: "
        + " and ".join(found)
        + " (more candidates per passage, --num-candidates 4, give the filters other kinds to keep)."
    )

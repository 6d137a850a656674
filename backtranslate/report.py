"""`backtranslate report`: see a dataset instead of reading it.

Reads a dataset folder (written by generate, curate, dedup, merge or convert; or any file of
pairs) and writes ``report/index.html`` with PNG charts next to it: instruction and output
lengths, kept and dropped pairs by reason, score distributions, the mix of task types
(tasktypes.py), the most frequent instruction openings, near-duplicate clusters and a sample of records; ``report.json`` holds the numbers.
"""

from __future__ import annotations

import html
import json
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .dataset import length_stats, read_jsonl
from .errors import UserError
from .filters.minhash import near_duplicate_clusters
from .io import atomic_path, write_json_atomic, write_text_atomic
from .readers.seed import load_pairs
from .records import Record
from .tasktypes import task_mix

# Politeness and question frames skipped to reach the verb that opens an instruction.
_LEAD_INS = (
    "please",
    "kindly",
    "can you",
    "could you",
    "would you",
    "will you",
    "i want you to",
    "i need you to",
    "help me",
    "i'd like you to",
    "i would like you to",
)
_WORD = re.compile(r"[a-z][a-z'-]*")
CHART_FILES = ("lengths.png", "reasons.png", "scores.png", "openings.png")


@dataclass
class Loaded:
    """What a dataset folder holds: kept pairs, rejected rows with reasons, and its stats."""

    source: str
    kept: list[Record]
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def load(dataset: str) -> Loaded:
    folder = Path(dataset)
    if (folder / "data.jsonl").is_file():  # read directly: a folder where every pair was dropped is worth a report
        kept = [Record.from_row(r) for r in read_jsonl(folder / "data.jsonl")]
    else:
        kept = load_pairs(dataset).records
    rejected, stats = [], {}
    if (folder / "rejected.jsonl").is_file():
        rejected = list(read_jsonl(folder / "rejected.jsonl"))
    if (folder / "stats.json").is_file():
        try:
            stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError(
                f"{folder / 'stats.json'} is not valid JSON; regenerate the dataset or remove it."
            ) from None
    return Loaded(source=dataset, kept=kept, rejected=rejected, stats=stats)


# ------------------------------------------------------------------------------------ numbers


def opening(instruction: str) -> Optional[str]:
    """The word an instruction opens with, after lead-ins such as "please" or "can you"
    (usually its verb: write, summarize, explain)."""
    text = instruction.lower().strip()
    changed = True
    while changed:
        changed = False
        for lead in _LEAD_INS:
            if text.startswith(lead + " ") or text.startswith(lead + ","):
                text = text[len(lead) + 1 :].lstrip(" ,")
                changed = True
    match = _WORD.search(text)
    return match.group(0) if match else None


def reason_counts(data: Loaded) -> Counter:
    """Dropped items by (stage, reason name): from rejected.jsonl, plus files skipped while reading."""
    counts: Counter = Counter()
    for row in data.rejected:
        reason = (row.get("reason") or "unknown").split(":")[0].strip()
        counts[(row.get("stage") or "pair", reason)] += 1
    for reason, n in (data.stats.get("read", {}).get("skipped") or {}).items():
        counts[("read", reason)] += n
    return counts


def scores(data: Loaded) -> dict[str, dict[str, list[float]]]:
    """scorer -> {"kept": [...], "rejected": [...]} from each pair's meta.scores."""
    out: dict[str, dict[str, list[float]]] = {}
    rows = [("kept", r.meta) for r in data.kept] + [("rejected", row.get("meta") or {}) for row in data.rejected]
    for kind, meta in rows:
        for name, value in (meta.get("scores") or {}).items():
            if isinstance(value, (int, float)):
                out.setdefault(name, {"kept": [], "rejected": []})[kind].append(float(value))
    return out


def summarize(data: Loaded, threshold: float, samples: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's numbers (report.json), and the raw values the charts are drawn from."""
    instruction_words = [len(r.instruction.split()) for r in data.kept]
    output_words = [len(r.output.split()) for r in data.kept]
    openings = Counter(o for o in (opening(r.instruction) for r in data.kept) if o)
    clusters = {}
    for name in ("instruction", "output"):
        texts = [getattr(r, name) for r in data.kept]
        groups = near_duplicate_clusters(texts, threshold, progress=f"report: {name} sketches")
        clusters[name] = [
            {"size": len(g), "ids": [data.kept[i].id for i in g], "examples": [texts[i] for i in g[:3]]} for g in groups
        ]
    picked = sorted(random.Random(seed).sample(range(len(data.kept)), min(samples, len(data.kept))))
    reasons, score_sets = reason_counts(data), scores(data)
    summary = {
        "source": data.source,
        "pairs": len(data.kept),
        "rejected": sum(reasons.values()),
        "lengths": {"instruction_words": length_stats(instruction_words), "output_words": length_stats(output_words)},
        "dropped": [{"stage": stage, "reason": reason, "count": n} for (stage, reason), n in reasons.most_common()],
        "scores": {
            name: {kind: _describe_scores(v) for kind, v in parts.items()} for name, parts in score_sets.items()
        },
        "cutoff": data.stats.get("cutoff"),
        "task_mix": task_mix((r.instruction for r in data.kept), (data.stats.get("settings") or {}).get("balance")),
        "openings": openings.most_common(20),
        "distinct_openings": len(openings),
        "near_duplicates": {
            "threshold": threshold,
            **{
                name: {"clusters": len(c), "pairs_in_clusters": sum(x["size"] for x in c), "top": c[:10]}
                for name, c in clusters.items()
            },
        },
        "samples": [
            {**data.kept[i].to_alpaca(), "id": data.kept[i].id, "scores": data.kept[i].meta.get("scores") or {}}
            for i in picked
        ],
    }
    raw = {
        "instruction_words": instruction_words,
        "output_words": output_words,
        "scores": score_sets,
        "reasons": reasons,
    }
    return summary, raw


def _describe_scores(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "mean": round(statistics.fmean(values), 4),
        "max": round(max(values), 4),
    }


# ------------------------------------------------------------------------------------- charts

_KEPT, _DROPPED = "#2b8a3e", "#c92a2a"
_STAGE_COLOURS = {
    "read": "#868e96",
    "passage": "#e67700",
    "pair": _DROPPED,
    "curate": "#5f3dc4",
    "merge": "#1971c2",
    "dedup": "#0c8599",
}


def _figure(width: float, height: float) -> Any:
    # The object API with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")  # 1080 px: the page width
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def _whole_numbers(axis: Any) -> None:
    """Counts are whole: no 2.5-pair ticks on small datasets."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="#666", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def chart_lengths(raw: dict[str, Any], path: Path) -> None:
    fig = _figure(9, 3.2)
    for ax, key, title, colour in zip(
        fig.subplots(1, 2),
        ("instruction_words", "output_words"),
        ("Instruction length", "Output length"),
        ("#1971c2", "#2b8a3e"),
    ):
        values = raw[key]
        if not values:
            _empty(ax, "no pairs")
        else:
            ax.hist(values, bins=min(40, max(5, len(set(values)))), color=colour, alpha=0.85)
            median = statistics.median(values)
            ax.axvline(median, color="#222", linestyle="--", linewidth=1, label=f"median {median:g}")
            ax.legend(frameon=False, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("words")
        ax.set_ylabel("pairs")
        _whole_numbers(ax.yaxis)
    _save(fig, path)


def chart_reasons(pairs: int, reasons: Counter, path: Path) -> None:
    rows = [("kept", "", pairs)] + [(f"{stage}: {reason}", stage, n) for (stage, reason), n in reasons.most_common(15)]
    fig = _figure(9, 0.9 + 0.32 * len(rows))
    ax = fig.subplots()
    labels = [label for label, _, _ in rows][::-1]
    values = [n for _, _, n in rows][::-1]
    colours = [_KEPT if not stage else _STAGE_COLOURS.get(stage, _DROPPED) for _, stage, _ in rows][::-1]
    bars = ax.barh(labels, values, color=colours)
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.set_xlabel("items")
    _whole_numbers(ax.xaxis)
    ax.set_title("Kept and dropped by reason", fontsize=10)
    ax.margins(x=0.12)
    ax.tick_params(axis="y", labelsize=8)
    _save(fig, path)


def chart_scores(score_sets: dict[str, dict[str, list[float]]], cutoff: Optional[float], path: Path) -> None:
    names = sorted(score_sets) or [""]
    fig = _figure(9, 3.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        if not name:
            _empty(ax, "No scores yet: run `backtranslate curate` on this dataset.")
            ax.set_title("Scores", fontsize=10)
            continue
        parts = score_sets[name]
        values = parts["kept"] + parts["rejected"]
        bins = min(30, max(5, len(set(values))))
        ax.hist(
            [parts["kept"], parts["rejected"]],
            bins=bins,
            stacked=True,
            color=[_KEPT, _DROPPED],
            label=["kept", "rejected"],
        )
        if cutoff is not None:
            ax.axvline(cutoff, color="#222", linestyle="--", linewidth=1, label=f"cutoff {cutoff:g}")
        ax.legend(frameon=False, fontsize=8)
        ax.set_title(f"{name} scores", fontsize=10)
        ax.set_xlabel("score")
        ax.set_ylabel("pairs")
        _whole_numbers(ax.yaxis)
    _save(fig, path)


def chart_openings(openings: list[tuple[str, int]], path: Path) -> None:
    fig = _figure(9, 0.9 + 0.21 * max(len(openings), 3))
    ax = fig.subplots()
    if not openings:
        _empty(ax, "no instructions")
    else:
        bars = ax.barh([w for w, _ in openings][::-1], [n for _, n in openings][::-1], color="#1971c2")
        ax.bar_label(bars, padding=3, fontsize=8)
        ax.margins(x=0.1)
        ax.set_xlabel("instructions")
        _whole_numbers(ax.xaxis)
    ax.set_title("Most frequent instruction openings (first word after 'please', 'can you', ...)", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    _save(fig, path)


# --------------------------------------------------------------------------------------- page

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; background: #f8f9fa; color: #212529; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; } h3 { font-size: 1rem; margin: 18px 0 8px; }
h2 { font-size: 1.2rem; margin: 34px 0 10px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
.source { color: #6c757d; margin: 0 0 18px; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 10px 12px; }
.card .n { font-size: 1.45rem; font-weight: 600; } .card .label { color: #6c757d; font-size: .8rem; }
img { width: 100%; height: auto; background: #fff; border: 1px solid #dee2e6; border-radius: 8px; display: block; margin: 0 0 12px; }
table { width: 100%; border-collapse: collapse; background: #fff; font-size: .86rem; table-layout: fixed; margin: 0 0 8px; }
table.compact { width: auto; min-width: 50%; table-layout: auto; }
th, td { border: 1px solid #dee2e6; padding: 6px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f1f3f5; } td.num, th.num { text-align: right; white-space: nowrap; }
th.num { width: 4.5em; } table.compact th.num { width: auto; }
.text { white-space: pre-wrap; display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 8; overflow: hidden; }
.line { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden; padding: 2px 0; }
.line + .line { border-top: 1px dashed #ced4da; }
.note { color: #6c757d; font-size: .9rem; }
.warning { color: #c92a2a; font-weight: 600; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _table(
    headers: list[str],
    rows: list[list[str]],
    numeric: tuple[int, ...] = (),
    widths: tuple[str, ...] = (),
    compact: bool = False,
) -> str:
    """An HTML table; cells are HTML already (escape text first), ``numeric`` columns align right."""
    cols = "<colgroup>" + "".join(f"<col style='width:{w}'>" for w in widths) + "</colgroup>" if widths else ""
    head = "".join(
        f'<th class="num">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    css = " class='compact'" if compact else ""
    return f"<table{css}>{cols}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _one_line(text: str, limit: int) -> str:
    return _esc(_short(" ".join(text.split()), limit))


def _length_text(d: dict[str, Any]) -> str:
    return (
        f"median {d['median']:g}, mean {d['mean']:g}, range {d['min']}-{d['max']} words" if d["count"] else "no pairs"
    )


def page(summary: dict[str, Any]) -> str:
    s = summary
    nd = s["near_duplicates"]
    cards = [
        (s["pairs"], "pairs kept"),
        (s["rejected"], "dropped (all stages)"),
        (f"{s['lengths']['instruction_words'].get('median', 0):g}", "median instruction words"),
        (f"{s['lengths']['output_words'].get('median', 0):g}", "median output words"),
        (s["distinct_openings"], "distinct openings"),
        (f"{s['task_mix']['entropy']:g}", "task-type entropy (0-1)"),
        (nd["instruction"]["clusters"], "near-dup instruction clusters"),
        (nd["output"]["clusters"], "near-dup output clusters"),
    ]
    parts = [
        f"<h1>Dataset report</h1><p class='source'>{_esc(s['source'])}</p>",
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='n'>{_esc(n)}</div><div class='label'>{_esc(label)}</div></div>"
            for n, label in cards
        )
        + "</div>",
        "<h2 id='lengths'>Lengths</h2>",
        f"<p class='note'>Instructions: {_length_text(s['lengths']['instruction_words'])}. "
        f"Outputs: {_length_text(s['lengths']['output_words'])}.</p>",
        "<img src='lengths.png' alt='instruction and output length histograms'>",
        "<h2 id='reasons'>Kept and dropped by reason</h2>",
        "<img src='reasons.png' alt='kept and dropped by reason'>",
    ]
    if s["dropped"]:
        parts.append(
            _table(
                ["stage", "reason", "count"],
                [[_esc(d["stage"]), _esc(d["reason"]), str(d["count"])] for d in s["dropped"]],
                (2,),
                compact=True,
            )
        )
    else:
        parts.append("<p class='note'>Nothing was dropped, or the folder has no rejected.jsonl.</p>")
    parts += ["<h2 id='scores'>Scores</h2>"]
    if not s["scores"]:
        parts.append("<p class='note'>No scores yet: <code>backtranslate curate</code> scores every pair.</p>")
    else:
        parts.append("<img src='scores.png' alt='score distributions'>")
        rows = [
            [_esc(name), _esc(kind), str(d["count"]), _esc(d.get("median", "-")), _esc(d.get("mean", "-"))]
            for name, kinds in s["scores"].items()
            for kind, d in kinds.items()
            if d["count"]
        ]
        parts.append(_table(["scorer", "pairs", "count", "median", "mean"], rows, (2, 3, 4), compact=True))
    parts += _task_section(s["task_mix"])
    parts += [
        "<h2 id='openings'>Most frequent instruction openings</h2>",
        "<img src='openings.png' alt='most frequent instruction openings'>",
    ]
    parts.append(
        f"<h2 id='duplicates'>Near-duplicate clusters</h2><p class='note'>Groups of pairs whose text "
        f"is nearly the same (MinHash LSH, estimated Jaccard &ge; {nd['threshold']} over content-word "
        f"3-grams); <code>backtranslate dedup</code> keeps the first of each.</p>"
    )
    for name in ("instruction", "output"):
        group = nd[name]
        parts.append(
            f"<h3>{name.capitalize()}s: {group['clusters']} clusters, {group['pairs_in_clusters']} pairs in them</h3>"
        )
        if group["top"]:
            rows = [
                [str(c["size"]), "".join(f"<div class='line'>{_one_line(t, 300)}</div>" for t in c["examples"])]
                for c in group["top"]
            ]
            parts.append(_table(["size", "first members"], rows, (0,), widths=("4.5em", "auto")))
        else:
            parts.append("<p class='note'>None found.</p>")
    parts.append(f"<h2 id='samples'>Sample of {len(s['samples'])} pairs</h2>")
    rows = [
        [
            f"<div class='text'>{_esc(_short(x['instruction'] + (chr(10) * 2 + x['input'] if x['input'] else ''), 400))}</div>",
            f"<div class='text'>{_esc(_short(x['output'], 600))}</div>",
            _esc(", ".join(f"{k} {v}" for k, v in x["scores"].items()) or "-"),
        ]
        for x in s["samples"]
    ]
    parts.append(_table(["instruction", "output", "scores"], rows, widths=("38%", "48%", "14%")))
    body = "\n".join(parts)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dataset report</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _task_section(mix: dict[str, Any]) -> list[str]:
    """What kinds of task the instructions ask for, by the rules of tasktypes.py."""
    parts = [
        "<h2 id='tasks'>Task types</h2>",
        f"<p class='note'>By the leading verb or question word (taxonomy in <code>backtranslate/tasktypes.py</code>). "
        f"Normalized entropy {mix['entropy']:g} (0: one type, 1: all ten equally often); the most common "
        f"opening, '{_esc(mix['top_opening'])}', starts {mix['top_opening_share']:.0%} of the instructions"
        + (f"; steered by <code>--balance {_esc(mix['balance'])}</code>" if mix.get("balance") else "")
        + ".</p>",
    ]
    if mix["pairs"]:
        rows = [
            [_esc(t), str(n), f"{n / mix['pairs']:.0%}"]
            for t, n in sorted(mix["types"].items(), key=lambda x: (-x[1], x[0]))
        ]
        parts.append(_table(["type", "pairs", "share"], rows, (1, 2), compact=True))
    if mix["warning"]:
        parts.append(f"<p class='warning'>{_esc(mix['warning'])}</p>")
    return parts


def report(dataset: str, out: str, threshold: float = 0.8, samples: int = 12) -> tuple[Path, dict]:
    """Write the report folder ``out``; returns its index.html and the summary numbers."""
    import matplotlib

    matplotlib.use("Agg")  # no display: charts are files
    data = load(dataset)
    if not data.kept and not data.rejected:
        raise UserError(f"{dataset} holds no pairs to report on.")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    summary, raw = summarize(data, threshold, samples)
    chart_lengths(raw, target / "lengths.png")
    chart_reasons(summary["pairs"], raw["reasons"], target / "reasons.png")
    chart_scores(raw["scores"], summary["cutoff"], target / "scores.png")
    chart_openings(summary["openings"], target / "openings.png")
    write_json_atomic(target / "report.json", summary)
    write_text_atomic(target / "index.html", page(summary))
    return target / "index.html", summary

"""How well the --rewrite faithfulness check catches unfaithful rewrites, on real passages.

Part 1, planted: passages of the real public corpora (benchmarks/real_corpora_data.py builds them
from pinned sources; without them this benchmark says so and exits 0) get rewrites made by rule,
so that whether each is faithful is known:
- faithful: an extract of 2-3 consecutive sentences of the passage (``extract``), the same with an
  assistant's opening line (``framed``), and with two sentences joined into one (``joined``);
- unfaithful, each the extract with one planted change: a number changed (``number``), a name
  swapped for one from another passage (``name``), a sentence of another passage of the same
  corpus added (``insert``), a negation added or removed (``negation``).
For each cosine floor it prints, per kind, the share the check flags, and the precision and recall
of its flags. Extracts are the easy case for the faithful side (a real rewrite paraphrases), so
part 2 measures real rewrites.

Part 2, real (``--rewrite-model``): the kept pairs of a real-corpus run (``--pairs``, a
data.jsonl) are rewritten by that model and checked; it prints how many rewrites the check keeps
and why the others fall back, and writes every rewrite with its verdict to ``--out`` for a read.

Part 3, blind (``--blind``): part 2's rewrites go to blind readers twice, as two files of the same
pairs in different orders: ``rewrite-raw`` (the instruction over the original passage, what a run
without --rewrite keeps) and ``rewrite-new`` (the instruction over the model's rewrite, whatever
the check said). Each is read by a fresh reader given only real_corpora.RUBRIC; with their
verdicts committed next to the files, the next run prints raw vs rewritten usable rates, and the
rates of the rewrites the check kept and of those it sent back.

    python benchmarks/faithfulness.py
    python benchmarks/faithfulness.py --rewrite-model default --pairs runs/real-bench/v4c-k1/docs/data.jsonl
    python benchmarks/faithfulness.py --blind
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAITHFUL = ("extract", "framed", "joined")
UNFAITHFUL = ("number", "name", "insert", "negation")
_VERB = re.compile(r"\b(is|are|was|were|will|can|should|does|do|has|have)\b")
_NOT = re.compile(r"\b(not|never)\s+|n't\b")


def real_passages(corpora: Path, per_corpus: int, rng: random.Random) -> dict[str, list[str]]:
    """Passages as `generate` cuts and filters them, per corpus, with at least three claims."""
    from backtranslate.filters import FilterStats, apply_filters, default_passage_filters
    from backtranslate.models import load_tokenizer
    from backtranslate.passages import TokenMeter, segment_all
    from backtranslate.readers.corpus import read_corpus
    from backtranslate.rewrite import _is_claim, sentences

    meter = TokenMeter(load_tokenizer("default"))
    found = {}
    for kind in ("mail", "docs", "web"):
        folder = corpora / kind
        if not folder.is_dir():
            continue
        cut = segment_all(read_corpus(str(folder)), meter, 24, 384)
        texts = [p.output for p in apply_filters(cut, default_passage_filters(), FilterStats())]
        texts = [t for t in texts if sum(_is_claim(s) for s in sentences(t)) >= 3]
        rng.shuffle(texts)
        found[kind] = texts[:per_corpus]
    return found


def plant(passage: str, others: list[str], rng: random.Random) -> dict[str, str]:
    """The faithful and unfaithful variants of one passage (a kind is missing where the passage
    offers nothing to change, e.g. no number)."""
    from backtranslate.rewrite import _NAME, _NUMBER, _is_claim, sentences

    claims = [s for s in sentences(passage) if _is_claim(s)]
    start = rng.randrange(0, max(1, len(claims) - 2))
    extract = claims[start : start + 3]
    out = {
        "extract": " ".join(extract),
        "framed": "Here is what the text says about this. " + " ".join(extract),
    }
    if len(extract) >= 2:
        a, b = extract[0].rstrip(".!?"), extract[1]
        out["joined"] = " ".join([f"{a}, and {b[0].lower()}{b[1:]}", *extract[2:]])
    lower = passage.lower()
    for i, s in enumerate(extract):
        numbers = [m for m in _NUMBER.finditer(s) if not s[: m.start()].endswith("_")]  # not <PERSON_1>
        if numbers and "number" not in out:
            m = numbers[0]
            changed = str((int(m.group()[0]) + 1) % 10) + m.group()[1:]  # 2025 -> 3025, 18 -> 28
            if changed.lower() not in lower:
                out["number"] = _replace(extract, i, s[: m.start()] + changed + s[m.end() :])
        names = [m for m in _NAME.finditer(s) if m.start() > 0]
        if names and "name" not in out:
            pool = [w for o in others for w in _NAME.findall(o)[1:] if w.lower() not in lower and len(w) > 3]
            if pool:
                m = names[0]
                out["name"] = _replace(extract, i, s[: m.start()] + rng.choice(pool) + s[m.end() :])
        if "negation" not in out:
            if _NOT.search(s):
                out["negation"] = _replace(extract, i, _NOT.sub("", s, count=1))
            elif _VERB.search(s):
                out["negation"] = _replace(extract, i, _VERB.sub(lambda v: f"{v.group()} not", s, count=1))
    foreign = [c for o in others for c in sentences(o) if _is_claim(c)]
    if foreign:
        out["insert"] = " ".join([*extract, rng.choice(foreign)])
    return out


def _replace(extract: list[str], i: int, sentence: str) -> str:
    return " ".join([*extract[:i], sentence, *extract[i + 1 :]])


def planted_table(passages: dict[str, list[str]], floors: list[float], rng: random.Random) -> list[dict]:
    from backtranslate.metrics import default_embedder
    from backtranslate.rewrite import Faithfulness

    cases = []  # (corpus, kind, rewrite, passage)
    for corpus, texts in passages.items():
        for i, passage in enumerate(texts):
            others = texts[:i] + texts[i + 1 :]
            for kind, rewrite in plant(passage, rng.sample(others, min(5, len(others))), rng).items():
                cases.append((corpus, kind, rewrite, passage))
    embedder = default_embedder()
    rows = []
    for floor in floors:
        check = Faithfulness(floor, embedder)
        started = time.perf_counter()
        supports = check.check_many([(r, p) for _, _, r, p in cases])
        seconds = time.perf_counter() - started
        flagged: dict[str, list[bool]] = defaultdict(list)
        for (_, kind, _, _), s in zip(cases, supports):
            flagged[kind].append(s.score < 1.0)
        tp = sum(sum(flagged[k]) for k in UNFAITHFUL)
        fp = sum(sum(flagged[k]) for k in FAITHFUL)
        pos = sum(len(flagged[k]) for k in UNFAITHFUL)
        rows.append(
            {
                "min_similarity": floor,
                "flagged": {k: [sum(v), len(v)] for k, v in flagged.items()},
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "recall": round(tp / pos, 3) if pos else None,
                "ms_per_rewrite": round(1000 * seconds / len(cases), 1),
            }
        )
    return rows


def real_rewrites(pairs_file: Path, model: str, count: int, out: Path, floor: float, rng: random.Random) -> dict:
    from backtranslate.records import Record
    from backtranslate.rewrite import Faithfulness, Rewrite, Rewriter

    rows = [json.loads(line) for line in pairs_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng.shuffle(rows)
    records = [Record.from_row(r) for r in rows[:count]]
    stage = Rewrite(Rewriter(model), Faithfulness(floor))
    started = time.perf_counter()
    done = [r for r, _ in stage.verdicts(records)]
    seconds = time.perf_counter() - started
    with out.open("w", encoding="utf-8") as f:
        for r in done:
            meta = r.meta["rewrite"]
            f.write(json.dumps({"id": r.id, "instruction": r.instruction, **meta}, ensure_ascii=False) + "\n")
    return {**stage.summary(), "seconds_per_pair": round(seconds / max(1, len(done)), 2), "file": str(out)}


def blind(rewrites: Path) -> dict | None:
    """Part 3: write the two blind-read files from part 2's rewrites, or, where the readers' verdicts
    are there, the usable / mismatch / unusable counts of raw and rewritten outputs."""
    from real_corpora import BLIND, RUBRIC

    rows = [json.loads(line) for f in sorted(rewrites.glob("*.jsonl")) for line in f.read_text().splitlines() if line]
    if not rows:
        print(f"faithfulness --blind: no rewrites in {rewrites} (run part 2 first)")
        return None
    by_id = {r["id"]: r for r in rows}
    verdicts = {}
    for side, field in (("raw", "original"), ("new", "text")):
        folder = BLIND / f"rewrite-{side}"
        folder.mkdir(parents=True, exist_ok=True)
        pairs, found = folder / "all.pairs.jsonl", folder / "all.verdicts.jsonl"
        if found.is_file():
            verdicts[side] = {v["id"]: v["verdict"] for v in map(json.loads, found.read_text().splitlines()) if v}
            continue
        order = random.Random(f"rewrite-{side}").sample(rows, len(rows))
        with pairs.open("w", encoding="utf-8") as f:
            for i, r in enumerate(order, 1):
                row = {"n": i, "id": r["id"], "instruction": r["instruction"], "input": "", "output": r[field]}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        (folder / "RUBRIC.md").write_text(RUBRIC + "\n", encoding="utf-8")
        print(f"faithfulness --blind: {len(rows)} pairs for a blind reader in {pairs}")
    if len(verdicts) < 2:
        return None
    groups = {
        "all": list(by_id),
        "rewrite kept": [i for i, r in by_id.items() if r["kept"]],
        "rewrite sent back": [i for i, r in by_id.items() if not r["kept"]],
    }
    table = {}
    print("blind read, raw passage vs rewrite (usable / mismatch / unusable)")
    for name, ids in groups.items():
        table[name] = {side: dict(Counter(verdicts[side].get(i, "missing") for i in ids)) for side in ("raw", "new")}
        cells = [
            "/".join(str(table[name][side].get(k, 0)) for k in ("usable", "mismatch", "unusable"))
            for side in ("raw", "new")
        ]
        print(f"{name} ({len(ids)}): raw {cells[0]} | rewritten {cells[1]}")
    final = Counter(verdicts["new" if by_id[i]["kept"] else "raw"].get(i) for i in by_id)
    table["with the check"] = dict(final)
    print(f"what --rewrite keeps (the rewrite where the check passed it, else the passage): {dict(final)}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default=str(ROOT / "runs" / "real-corpora"), help="built real corpora")
    parser.add_argument("--per-corpus", type=int, default=60)
    parser.add_argument("--floors", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--rewrite-model", help="also rewrite real kept pairs with this model (part 2)")
    parser.add_argument("--pairs", nargs="*", default=[], help="data.jsonl files of real-corpus runs (part 2)")
    parser.add_argument("--count", type=int, default=20, help="pairs rewritten per file (part 2)")
    parser.add_argument("--floor", type=float, default=0.5, help="the cosine floor for part 2")
    parser.add_argument("--out", default=str(ROOT / "runs" / "faithfulness"), help="part 2's rewrites")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--blind", action="store_true", help="part 3 only: blind-read files, or their rates")
    args = parser.parse_args(argv)
    if args.blind:
        table = blind(Path(args.out))
        if table and args.json:
            Path(args.json).write_text(json.dumps({"blind": table}, indent=2) + "\n", encoding="utf-8")
        return 0
    rng = random.Random(0)

    corpora = Path(args.corpora)
    if not all((corpora / k).is_dir() for k in ("mail", "docs", "web")):
        print(
            f"faithfulness: no real corpora in {corpora} (build them: python benchmarks/real_corpora_data.py {corpora})"
        )
        return 0
    passages = real_passages(corpora, args.per_corpus, rng)
    results: dict = {"passages": {k: len(v) for k, v in passages.items()}}
    results["planted"] = planted_table(passages, args.floors, rng)
    kinds = (*FAITHFUL, *UNFAITHFUL)
    print(f"planted rewrites of real passages {results['passages']}: share flagged unfaithful")
    print("floor | " + " | ".join(kinds) + " | precision | recall | ms/rewrite")
    for row in results["planted"]:
        cells = [f"{row['flagged'].get(k, [0, 0])[0]}/{row['flagged'].get(k, [0, 0])[1]}" for k in kinds]
        print(
            f"{row['min_similarity']} | "
            + " | ".join(cells)
            + f" | {row['precision']} | {row['recall']} | {row['ms_per_rewrite']}"
        )

    if args.rewrite_model:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results["real"] = {}
        for pairs in args.pairs:
            name = Path(pairs).parent.name
            real = real_rewrites(Path(pairs), args.rewrite_model, args.count, out / f"{name}.jsonl", args.floor, rng)
            results["real"][name] = real
            fell = ", ".join(f"{n} {why}" for why, n in Counter(real["fell_back"]).most_common()) or "none"
            print(
                f"{name}: {real['kept']} of {real['rewritten']} rewrites kept ({fell}); {real['seconds_per_pair']} s a pair; {real['file']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

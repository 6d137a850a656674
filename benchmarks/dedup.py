"""Near-duplicate detection at scale: MinHash LSH (what `backtranslate dedup`, generate's and
merge's filters and the report run) against two baselines, on synthetic records with planted
duplicates, so both cost and what each method finds are measured.

    .venv/bin/python benchmarks/dedup.py [--records 100000] [--naive 2000]

Records: an instruction (6-24 words) and an output (40-160 words) drawn from a Zipf-like
vocabulary; 2% are exact copies of an earlier record and 6% near copies (one word of
the instruction changed, inserted or dropped, and one or two of the output's, the edits of a
forwarded or re-sent text: output Jaccard about 0.85-0.97). Methods,
each over both fields, each in its own process so its peak memory is its own:

- exact: a hash of the normalised text per field (finds exact copies only);
- minhash-lsh: the `dedup` pipeline (exact, then MinHash LSH at Jaccard 0.8) on every record;
- clusters: the report's batch path (sketch all, LSH, union-find) over the same records;
- naive: exact Jaccard of every pair of shingle sets, on the first --naive records only; its
  time for all records is extrapolated by the square of the ratio.

Times are CPU seconds of the measuring process (wall seconds too): on a shared machine wall time
measures the neighbours.

Recall counts planted copies dropped (or clustered with their original): of the exact copies,
and of the near copies whose exact Jaccard with their original reaches 0.8 on a field (what a
perfect detector finds); "other" counts records dropped that were not planted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import time
from typing import Any

FIELDS = ("instruction", "output")


def vocabulary(size: int = 20_000) -> tuple[list[str], list[float]]:
    """Words and their cumulative weights (computed once: choices() would redo it per call)."""
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size * 2)})[:size]
    weights = [1 / (rank + 10) for rank in range(len(words))]  # Zipf-like: a few words are everywhere
    return words, list(itertools.accumulate(weights))


def records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic pairs; ``planted`` names the record a copy was made from (None for originals)."""
    rng = random.Random(seed)
    words, cumulative = vocabulary()

    def text(lo: int, hi: int) -> list[str]:
        return rng.choices(words, cum_weights=cumulative, k=rng.randint(lo, hi))

    def edit(tokens: list[str], changes: int) -> list[str]:
        tokens = list(tokens)
        for _ in range(changes):
            i = rng.randrange(len(tokens))
            kind = rng.choice(("replace", "insert", "drop")) if len(tokens) > 4 else "replace"
            if kind == "replace":
                tokens[i] = rng.choices(words, cum_weights=cumulative)[0]
            elif kind == "insert":
                tokens.insert(i, rng.choices(words, cum_weights=cumulative)[0])
            else:
                del tokens[i]
        return tokens

    out: list[dict[str, Any]] = []
    originals: list[int] = []
    for i in range(n):
        roll = rng.random()
        # copies are made of originals only, so each has one well-defined original to be caught against
        if i > 100 and roll < 0.02:
            src = rng.choice(originals)
            out.append({**out[src], "id": f"r{i}", "planted": out[src]["id"], "kind": "exact"})
        elif i > 100 and roll < 0.08:
            src = rng.choice(originals)
            instruction = edit(out[src]["instruction"].split(), 1)
            output = edit(out[src]["output"].split(), rng.randint(1, 2))
            out.append(
                {
                    "id": f"r{i}",
                    "instruction": " ".join(instruction),
                    "output": " ".join(output),
                    "planted": out[src]["id"],
                    "kind": "near",
                }
            )
        else:
            originals.append(i)
            out.append(
                {
                    "id": f"r{i}",
                    "instruction": " ".join(text(6, 24)),
                    "output": " ".join(text(40, 160)),
                    "planted": None,
                    "kind": "original",
                }
            )
    return out


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_exact(rows: list[dict[str, Any]]) -> set[str]:
    import hashlib

    from backtranslate.filters import ExactDuplicate

    seen: dict[bytes, str] = {}
    dropped = set()
    for row in rows:
        keys = [
            hashlib.blake2b(f"{f}\x1f{ExactDuplicate.normalise(row[f])}".encode(), digest_size=16).digest()
            for f in FIELDS
        ]
        if any(k in seen for k in keys):
            dropped.add(row["id"])
            continue
        for k in keys:
            seen[k] = row["id"]
    return dropped


def run_minhash(rows: list[dict[str, Any]]) -> set[str]:
    from backtranslate.dedup import dedup_filters
    from backtranslate.filters import FilterStats, apply_filters
    from backtranslate.records import Record

    dropped: set[str] = set()
    stream = (Record(output=r["output"], instruction=r["instruction"], id=r["id"]) for r in rows)
    for _ in apply_filters(stream, dedup_filters(FIELDS, 0.8), FilterStats(), on_reject=lambda r: dropped.add(r.id)):
        pass
    return dropped


def run_clusters(rows: list[dict[str, Any]]) -> set[str]:
    """Every member of a cluster but its first counts as found."""
    from backtranslate.filters.minhash import near_duplicate_clusters

    found: set[str] = set()
    for field in FIELDS:
        for group in near_duplicate_clusters([r[field] for r in rows], 0.8):
            found.update(rows[i]["id"] for i in group[1:])
    return found


def run_naive(rows: list[dict[str, Any]]) -> set[str]:
    """Keep-first with exact Jaccard against every kept record: the all-pairs baseline."""
    from backtranslate.filters.minhash import Sketcher

    sketcher = Sketcher()
    kept: dict[str, list[frozenset[bytes]]] = {f: [] for f in FIELDS}
    dropped = set()
    for row in rows:
        shingles = {f: frozenset(sketcher.shingles(row[f])) for f in FIELDS}
        duplicate = any(len(shingles[f] & other) >= 0.8 * len(shingles[f] | other) for f in FIELDS for other in kept[f])
        if duplicate:
            dropped.add(row["id"])
            continue
        for f in FIELDS:
            kept[f].append(shingles[f])
    return dropped


METHODS = {"exact": run_exact, "minhash-lsh": run_minhash, "clusters": run_clusters, "naive": run_naive}


def worker(method: str, n: int) -> None:
    rows = records(n)
    near = true_near(rows)  # before the clock and the memory baseline: the answer key, not the method
    before = peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    found = METHODS[method](rows)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    planted = {r["id"]: r["kind"] for r in rows if r["planted"]}
    result = {
        "method": method,
        "records": n,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mb": round(peak_mb(), 1),
        "before_mb": round(before, 1),
        "found": len(found),
        "recall_exact": _share(found, [i for i, k in planted.items() if k == "exact"]),
        "recall_near": _share(found, near),
        "other": len(found - set(planted)),
    }
    print(json.dumps(result))


def true_near(rows: list[dict[str, Any]], threshold: float = 0.8) -> list[str]:
    """Planted near copies whose exact shingle Jaccard with their original reaches the threshold
    on either field: what a perfect near-duplicate detector finds."""
    from backtranslate.filters.minhash import Sketcher

    sketcher, by_id = Sketcher(), {r["id"]: r for r in rows}
    out = []
    for r in rows:
        if r["kind"] != "near":
            continue
        src = by_id[r["planted"]]
        for f in FIELDS:
            a, b = sketcher.shingles(r[f]), sketcher.shingles(src[f])
            if a and b and len(a & b) >= threshold * len(a | b):
                out.append(r["id"])
                break
    return out


def _share(found: set[str], ids: list[str]) -> float | None:
    return round(sum(i in found for i in ids) / len(ids), 4) if ids else None


def measure(method: str, n: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", method, "--records", str(n)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000, help="records for the all-pairs baseline")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.records)
        return

    from rich.console import Console
    from rich.table import Table

    runs = [
        measure("exact", args.records),
        measure("minhash-lsh", args.records),
        measure("clusters", args.records),
        measure("minhash-lsh", args.naive),
        measure("naive", args.naive),
    ]
    naive = runs[-1]
    table = Table(title=f"near-duplicate detection over instruction + output ({args.records:,} synthetic records)")
    for col in (
        "method",
        "records",
        "wall s",
        "CPU s",
        "records/CPU s",
        "peak RSS MB",
        "RSS before MB",
        "recall exact",
        "recall near (J>=0.8)",
        "other dropped",
    ):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in runs:
        table.add_row(
            r["method"],
            f"{r['records']:,}",
            f"{r['seconds']:.2f}",
            f"{r['cpu_seconds']:.2f}",
            f"{r['records'] / max(r['cpu_seconds'], 1e-9):,.0f}",
            f"{r['peak_mb']:.0f}",
            f"{r['before_mb']:.0f}",
            _pct(r["recall_exact"]),
            _pct(r["recall_near"]),
            str(r["other"]),
        )
    estimate = naive["cpu_seconds"] * (args.records / args.naive) ** 2
    table.add_row(
        "naive (extrapolated)",
        f"{args.records:,}",
        "-",
        f"~{estimate:,.0f}",
        f"~{args.records / estimate:,.0f}",
        "-",
        "-",
        "-",
        "-",
        "-",
    )
    Console(width=140).print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


if __name__ == "__main__":
    main()

"""Crash-safe progress for a generate run: what settings made the folder, which chunks are done.

The run folder holds ``run.json`` (the settings and their fingerprint, and ``done`` once the final
files are written) and ``progress.jsonl``, one line per finished chunk of passages, appended after
that chunk's candidates, pairs and rejects were flushed to disk. Each line records the byte size
of every append-only file at that moment, so a run killed at any point (SIGKILL included) is
resumed by cutting those files back to the last finished chunk and starting with the next one:
nothing finished is lost and nothing is written twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .inference import option_names
from .io import write_json_atomic

RUN_FILE = "run.json"
PROGRESS_FILE = "progress.jsonl"
APPEND_ONLY = ("candidates.jsonl", "data.jsonl", "rejected.jsonl")
# Settings that change how a run is carried out or where it goes, but not what it produces
# (the card's license and language are written at the end of every run that is not done).
_NOT_FINGERPRINTED = {
    "overwrite",
    "resume",
    "out",
    "push_to_hub",
    "hub_private",
    "license",
    "language",
    *option_names(),  # each backend's own settings (vLLM's KV cache size, ...)
}


def fingerprint(settings: dict[str, Any]) -> str:
    kept = {k: v for k, v in settings.items() if k not in _NOT_FINGERPRINTED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Progress:
    """Where a run stands: finished chunks and the counters to carry on from."""

    chunks: int = 0
    passages: int = 0
    counters: dict[str, Any] = field(default_factory=dict)
    done: bool = False


def _read_progress(path: Path) -> list[dict[str, Any]]:
    lines = []
    if not path.exists():
        return lines
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            break  # a line torn by a crash: everything after it is unfinished
    return lines


def check_writable(out: Path) -> None:
    """Fail before any slow work when the output folder cannot be made or written."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"Cannot write to output folder {out}: {probe} is not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"Cannot write to output folder {out}: {probe} is not writable.")


def open_run(out: Path, settings: dict[str, Any], outputs: tuple[str, ...], overwrite: bool, resume: bool) -> Progress:
    """Start, resume or refuse a run in ``out``; returns the progress to continue from."""
    run_path = out / RUN_FILE
    existing = [name for name in outputs + (RUN_FILE, PROGRESS_FILE) if (out / name).exists()]
    if overwrite:
        _clear(out, existing)
    elif run_path.exists():
        previous = json.loads(run_path.read_text(encoding="utf-8"))
        if previous.get("fingerprint") != fingerprint(settings):
            old = previous.get("settings", {})
            changed = sorted(
                k for k in set(old) | set(settings) if k not in _NOT_FINGERPRINTED and old.get(k) != settings.get(k)
            )
            raise UserError(
                f"{out} holds a run made with other settings (changed: {', '.join(changed) or 'unknown'}); "
                "rerun with the same settings to resume it, or pass --overwrite or another --out."
            )
        return _resume(out, previous)
    elif existing:
        raise UserError(
            f"{out} already holds files ({', '.join(existing)}) but no {RUN_FILE}; "
            "pass --overwrite or choose another --out."
        )
    elif resume:
        raise UserError(f"There is no run to resume in {out}; drop --resume to start one.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_path, {"fingerprint": fingerprint(settings), "settings": settings, "done": False})
    except OSError as e:
        raise UserError(f"Cannot write to output folder {out} ({e.strerror or e}).") from None
    return Progress()


def _clear(out: Path, names: list[str]) -> None:
    import shutil

    for name in names:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _resume(out: Path, run: dict[str, Any]) -> Progress:
    lines = _read_progress(out / PROGRESS_FILE)
    last = lines[-1] if lines else {"chunk": -1, "passages": 0, "sizes": {}, "counters": {}}
    for name in APPEND_ONLY:
        path = out / name
        size = last["sizes"].get(name, 0)
        if path.exists() and path.stat().st_size > size:
            with path.open("r+b") as f:
                f.truncate(size)  # drop what an unfinished chunk had begun to write
    # Rewrite progress.jsonl without a torn tail so later appends start on a clean line.
    with (out / PROGRESS_FILE).open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    return Progress(
        chunks=last["chunk"] + 1, passages=last["passages"], counters=last["counters"], done=bool(run.get("done"))
    )


def record_chunk(out: Path, chunk: int, passages: int, passage_ids: list[str], counters: dict[str, Any]) -> None:
    """Append one finished chunk; called after its files were flushed and synced."""
    sizes = {name: (out / name).stat().st_size for name in APPEND_ONLY if (out / name).exists()}
    line = {"chunk": chunk, "passages": passages, "sizes": sizes, "counters": counters, "passage_ids": passage_ids}
    with (out / PROGRESS_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())


def mark_done(out: Path) -> None:
    run = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    write_json_atomic(out / RUN_FILE, {**run, "done": True})

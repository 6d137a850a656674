"""Atomic writes: a crash leaves the old file or the new one, never half of one.

One helper for every file the project writes whole: ``atomic_path`` gives a temporary name
beside the target (same folder, so the final rename is atomic) and renames it into place only
when the block ends without an error; ``atomic_open`` streams text into it and syncs it to disk
first. The temporary name carries the process id, so two processes never share one, and it is
created with the usual permissions (a dataset is meant to be read by others).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path to write ``path`` through; ``suffix`` keeps an extension a writer reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path) -> Iterator[IO[str]]:
    """A UTF-8 text file that appears at ``path`` whole, flushed and synced, or not at all."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)

"""Corpus reading: a folder, a file or a Hugging Face dataset in, a stream of documents out.

Each document is a Record whose ``output`` is the text and whose ``meta`` says where it came from
(source, row, doc_id, format; e-mail adds its headers); ids hash that provenance, so they are the
same on every machine and every run. Files and rows that cannot be used are skipped and counted by reason, never fatal: a
large corpus should not stop at its one broken file. Everything streams, so corpora larger than
memory read in constant memory.
"""

from __future__ import annotations

import codecs
import csv
import errno
import json
import logging
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from .email_text import BrokenMessage, NoTextPart, email_document
from .errors import UserError
from .records import Record, stable_id

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
_SNIFF_BYTES = 8192  # a NUL byte this early means binary, as git and grep decide it
_MAX_INVALID_SHARE = 0.02  # invalid UTF-8 sequences per byte above which a file is not text at all
# Latin-1 / Windows-1252 text: no UTF-8 multi-byte sequence, and its non-ASCII bytes sit inside
# words, next to an ASCII letter ("café", "Größe", "don’t"); random bytes and Greek or Cyrillic
# code pages do not look like that.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_HIGH_BYTE_IN_WORD = re.compile(rb"(?<=[A-Za-z])[\x80-\xff]|[\x80-\xff](?=[A-Za-z])")
_MIN_IN_WORD_SHARE = 0.5
# Lone UTF-16 surrogates: JSON escapes such as "\ud83d" without their pair, or raw header bytes
# the e-mail parser keeps as surrogate escapes. No tokenizer or UTF-8 file can take them.
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXAMPLES = 3
_DATASET_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_BOMS = tuple(bom for bom, encoding in _BOMS if encoding != "utf-8-sig")
_UNREADABLE = {errno.ENOENT: "file vanished", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.EISDIR: "is a folder", errno.ELOOP: "symlink loop"}

BINARY = "binary file"
UNDECODABLE = "undecodable text"
EMPTY = "empty"
TOO_LARGE = "file too large"
UNSUPPORTED = "unsupported extension"
MALFORMED_JSON = "malformed JSON line"
MALFORMED_JSON_FILE = "malformed JSON file"
NOT_OBJECT = "row is not a JSON object"
NO_HTML_TEXT = "no main text in HTML"
BROKEN_EMAIL = "broken e-mail message"
NO_EMAIL_TEXT = "e-mail has no text part"
BROKEN_PARQUET = "broken Parquet file"
SYMLINK_LOOP = "symlink loop"


@dataclass
class ReadStats:
    files: int = 0  # files looked at
    documents: int = 0  # documents yielded
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first paths/locations

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < _EXAMPLES:
            shown.append(where)
        elif reason == UNSUPPORTED:
            return  # a folder of images would flood the log; the count says it all
        log.debug("skipped %s: %s", where, reason)

    def summary(self) -> str:
        line = f"read {self.documents} documents" + (f" from {self.files} files" if self.files else "")
        if self.skipped:
            line += "; skipped " + ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return line


@dataclass(frozen=True)
class _Options:
    text_field: str
    id_field: Optional[str]
    max_file_bytes: int

    @property
    def missing(self) -> str:
        return f"missing text field '{self.text_field}'"


class _Skip(Exception):
    """The whole file is unusable; the message is the reason counted in ReadStats."""


Doc = tuple[int, str, dict[str, Any]]  # (row, text, extra meta)
Reader = Callable[[Path, str, _Options, ReadStats], Iterator[Doc]]


def read_corpus(spec: str, text_field: str = "text", id_field: Optional[str] = None,
                stats: Optional[ReadStats] = None, *, max_file_bytes: int = MAX_FILE_BYTES) -> Iterator[Record]:
    """Documents of a folder (recursively), a single file, or a Hugging Face dataset's train split.

    A bad spec raises UserError now, before the first document; unusable files and rows are
    counted in ``stats`` as the stream goes.
    """
    stats = stats if stats is not None else ReadStats()
    opts = _Options(text_field, id_field, max_file_bytes)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _read_folder(path, opts, stats)
    if path.exists() or path.is_symlink():
        if path.suffix.lower() not in READERS:
            raise UserError(f"Corpus file {spec} has an unsupported extension; use one of {', '.join(READERS)}.")
        return _read_file(path, path.name, opts, stats)
    if _DATASET_NAME.fullmatch(spec) and Path(spec).suffix.lower() not in READERS:
        return _read_dataset(spec, opts, stats)
    raise UserError(f"Corpus {spec} does not exist; pass a folder, a file ({' '.join(READERS)}) "
                    "or a Hugging Face dataset name such as org/name.")


# --- where documents come from ---------------------------------------------------------------

def _read_folder(root: Path, opts: _Options, stats: ReadStats) -> Iterator[Record]:
    for path in _walk(root, stats):
        yield from _read_file(path, _relative(path, root), opts, stats)


def _walk(root: Path, stats: ReadStats) -> Iterator[Path]:
    """Files under root in sorted path order, following symlinks but entering each real folder once."""
    seen = {os.path.realpath(root)}
    stack = [iter(_entries(root, root, stats))]  # one listing per open folder, never the whole tree
    while stack:
        path = next(stack[-1], None)
        if path is None:
            stack.pop()
        elif not path.is_dir():  # files, and broken links, which fail later with a counted reason
            yield path
        elif (real := os.path.realpath(path)) in seen:
            # A link to one of its own ancestors is a loop; any other repeat is a second way in.
            is_loop = os.path.commonpath([real, os.path.realpath(path.parent)]) == real
            stats.skip(SYMLINK_LOOP if is_loop else "folder already read through another link", _relative(path, root))
        else:
            seen.add(real)
            stack.append(iter(_entries(path, root, stats)))


def _entries(folder: Path, root: Path, stats: ReadStats) -> list[Path]:
    try:
        return [folder / name for name in sorted(os.listdir(folder))]
    except OSError as e:
        stats.skip(_unreadable(e), _relative(folder, root))
        return []


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_dataset(spec: str, opts: _Options, stats: ReadStats) -> Iterator[Record]:
    try:
        import datasets

        rows = datasets.load_dataset(spec, split="train", streaming=True)
    except Exception as e:  # datasets raises many types for "not found", "offline", "gated"
        first = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"Corpus {spec} is not a local path and could not be loaded as a Hugging Face "
                        f"dataset ({type(e).__name__}: {first}); check the name, your network and access rights.") from None
    return _records(_row_docs(enumerate(rows), spec, opts, stats), spec, "dataset", stats)


def _read_file(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Record]:
    stats.files += 1
    known = READERS.get(path.suffix.lower())
    if known is None and is_maildir_message(path):
        known = ("maildir", _read_eml)
    if known is None:
        stats.skip(UNSUPPORTED, source)
        return
    fmt, reader = known
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the run forever
            raise _Skip("not a regular file")
        yield from _records(reader(path, source, opts, stats), source, fmt, stats)
    except _Skip as skip:
        stats.skip(str(skip), source)
    except OSError as e:  # permission denied, deleted mid-run, ...: one file, not the run
        stats.skip(_unreadable(e), source)


def _records(docs: Iterable[Doc], source: str, fmt: str, stats: ReadStats) -> Iterator[Record]:
    for row, text, meta in docs:
        text = _scrub(text)
        meta = {k: _scrub(v) if isinstance(v, str) else [_scrub(x) for x in v] if isinstance(v, list) else v
                for k, v in meta.items()}
        if not text.strip():
            stats.skip(EMPTY, source if fmt in _SINGLE else f"{source}#{row}")
            continue
        doc_id = meta.get("doc_id")
        stats.documents += 1
        yield Record(output=text, id=stable_id(source, str(row), *([doc_id] if doc_id else [])),
                     meta={"source": source, "row": row, "format": fmt, **meta})


def _scrub(text: str) -> str:
    """Lone surrogates become U+FFFD; left in, they crash the tokenizer or the dataset writer later."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def is_maildir_message(path: Path) -> bool:
    """A message file of a maildir: in its cur/ or new/ folder, named without a mail extension
    ("1700000000.M1P2.host:2,S"). tmp/ holds messages still being delivered, so it is left alone."""
    folder = path.parent
    return (folder.name in ("cur", "new") and not path.name.startswith(".")
            and (folder.parent / "cur").is_dir() and (folder.parent / "new").is_dir())


def _unreadable(e: OSError) -> str:
    if isinstance(e, FileNotFoundError) and e.filename and os.path.islink(e.filename):
        return "unreadable: broken symlink"
    return "unreadable: " + _UNREADABLE.get(e.errno, (e.strerror or type(e).__name__).lower())


# --- one reader per format: each yields (row, text, meta) ------------------------------------

def _read_small(path: Path, opts: _Options) -> bytes:
    if path.stat().st_size > opts.max_file_bytes:
        raise _Skip(TOO_LARGE)
    return path.read_bytes()


def decode_text(data: bytes) -> str:
    """UTF-8 (or UTF-16/32 with a BOM, or Latin-1/Windows-1252); a few bad bytes become U+FFFD,
    many mean it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise _Skip(BINARY)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Without this, a Latin-1 file lost every accented letter to U+FFFD, or, with enough of
    # them (French, German), was skipped whole as undecodable.
    if _looks_western_8bit(data):
        return data.decode("cp1252", errors="replace")  # a superset of Latin-1's printable characters
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
    if invalid > _MAX_INVALID_SHARE * len(data):
        raise _Skip(UNDECODABLE)
    return text


def _looks_western_8bit(data: bytes) -> bool:
    if _UTF8_MULTIBYTE.search(data):
        return False  # some real UTF-8: the invalid bytes are damage, not another encoding
    high = _HIGH_BYTE.subn(b"", data)[1]  # counts without a list of matches
    return _HIGH_BYTE_IN_WORD.subn(b"", data)[1] >= _MIN_IN_WORD_SHARE * high


def _read_text(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    yield 0, decode_text(_read_small(path, opts)), {}


def _read_eml(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    try:
        text, headers = email_document(_read_small(path, opts))
    except NoTextPart:
        raise _Skip(NO_EMAIL_TEXT) from None
    except BrokenMessage:
        raise _Skip(BROKEN_EMAIL) from None
    yield 0, text, headers


def _read_mbox(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    import mailbox

    try:
        box = mailbox.mbox(path, create=False)  # indexes message offsets, not messages
    except mailbox.NoSuchMailboxError:
        raise FileNotFoundError(errno.ENOENT, "vanished", str(path)) from None
    try:
        for row, key in enumerate(box.keys()):
            try:
                text, headers = email_document(box.get_bytes(key), mbox=True)
            except NoTextPart:
                stats.skip(NO_EMAIL_TEXT, f"{source}#{row}")
                continue
            except BrokenMessage:
                stats.skip(BROKEN_EMAIL, f"{source}#{row}")
                continue
            yield row, text, headers
    finally:
        box.close()


def _read_html(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    data = _read_small(path, opts)
    try:
        import trafilatura
    except ImportError:
        raise _Skip("HTML needs trafilatura (pip install trafilatura)") from None
    quiet = logging.getLogger("trafilatura")
    if quiet.level == logging.NOTSET:  # it logs ERROR for every page without text; we count those
        quiet.setLevel(logging.CRITICAL)
    # trafilatura honours <meta charset> on bytes but does not know UTF-16/32 BOMs.
    html: str | bytes = decode_text(data) if data.startswith(_WIDE_BOMS) else data
    try:
        text = trafilatura.extract(html, include_comments=False, include_tables=True)
    except Exception:  # lxml and trafilatura raise many types on odd markup; one page must not end the run
        raise _Skip("broken HTML") from None
    if not text or not text.strip():
        raise _Skip(NO_HTML_TEXT)
    yield 0, text, {}


def _read_jsonl(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        yield from _row_docs(_json_lines(f, source, stats), source, opts, stats)


def _json_lines(lines: Iterable[str], source: str, stats: ReadStats) -> Iterator[tuple[int, Any]]:
    """(row, object) per line; the row is the 0-based line number, so it points into the file."""
    for row, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: [[[[... nested too deep
            stats.skip(MALFORMED_JSON, f"{source}#{row}")
            continue
        yield row, obj


def _read_json(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    text = decode_text(_read_small(path, opts))
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # JSON lines named .json, or broken JSON
        # A file none of whose lines parses is one broken file, not as many broken lines as it has.
        if not any(_parses(line) for line in text.splitlines() if line.strip()):
            raise _Skip(MALFORMED_JSON_FILE) from None
        yield from _row_docs(_json_lines(text.splitlines(), source, stats), source, opts, stats)
        return
    if isinstance(data, dict) and opts.text_field not in data:
        lists = [v for v in data.values() if isinstance(v, list)]  # {"data": [...]}
        data = lists[0] if len(lists) == 1 else data
    yield from _row_docs(enumerate(data if isinstance(data, list) else [data]), source, opts, stats)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except (json.JSONDecodeError, RecursionError):
        return False


def _read_csv(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    # Documents are long; the csv module's default field limit (128 KB) would cut the run short.
    csv.field_size_limit(max(csv.field_size_limit(), opts.max_file_bytes))
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        if opts.text_field not in (reader.fieldnames or []):
            raise _Skip(opts.missing)
        try:
            yield from _row_docs(enumerate(reader), source, opts, stats)
        except csv.Error:
            raise _Skip("malformed CSV file") from None


def _read_parquet(path: Path, source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
        names = table.schema_arrow.names
        if opts.text_field not in names:
            raise _Skip(opts.missing)
        columns = [c for c in dict.fromkeys([opts.text_field, opts.id_field or "id"]) if c in names]
        batches = table.iter_batches(batch_size=1024, columns=columns)  # only the columns we use
        rows = (obj for batch in batches for obj in batch.to_pylist())
        yield from _row_docs(enumerate(rows), source, opts, stats)
    except (ValueError, pyarrow.ArrowException):  # ArrowInvalid and kin: not Parquet, or a corrupt page
        raise _Skip(BROKEN_PARQUET) from None
    except OSError as e:  # pyarrow reports a corrupt page ("Corrupt snappy compressed data") as an errno-less OSError
        if e.errno is not None:  # a real I/O error (vanished, permission): _read_file names it
            raise
        raise _Skip(BROKEN_PARQUET) from None


def _row_docs(rows: Iterable[tuple[int, Any]], source: str, opts: _Options, stats: ReadStats) -> Iterator[Doc]:
    """Table rows as documents; the row's own id (or the id_field column) travels as doc_id."""
    for row, obj in rows:
        if not isinstance(obj, dict):
            stats.skip(NOT_OBJECT, f"{source}#{row}")
            continue
        text = obj.get(opts.text_field)
        if not isinstance(text, str):
            stats.skip(opts.missing, f"{source}#{row}")
            continue
        doc_id = obj.get(opts.id_field or "id")
        yield row, text, ({"doc_id": str(doc_id)} if doc_id not in (None, "") else {})


READERS: dict[str, tuple[str, Reader]] = {
    ".txt": ("txt", _read_text), ".md": ("md", _read_text), ".markdown": ("md", _read_text),
    ".eml": ("eml", _read_eml), ".mbox": ("mbox", _read_mbox),
    ".html": ("html", _read_html), ".htm": ("html", _read_html),
    ".jsonl": ("jsonl", _read_jsonl), ".json": ("json", _read_json),
    ".csv": ("csv", _read_csv), ".parquet": ("parquet", _read_parquet),
}
_SINGLE = {"txt", "md", "eml", "maildir", "html"}  # formats with one document per file: no "#row" in locations

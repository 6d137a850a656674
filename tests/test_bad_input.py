"""A long run over a messy corpus never crashes and never loses good data.

One corpus mixes good files with 28 kinds of bad input, each in its own folder named after its
kind. Every kind is first read on its own (cheap, and a failure names the kind); then one
`backtranslate generate` run over the whole corpus, through the CLI on the tiny model, must exit 0,
put every good document in the dataset, and count every bad item with its reason. A file is
deleted while that run goes on, from the progress callback, after the first chunk.
"""

from __future__ import annotations

import io
import json
import os
import random
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Optional

import pytest
from typer.testing import CliRunner

import backtranslate.cli as cli
import backtranslate.generate as generate_module
from backtranslate.readers.corpus import ReadStats, read_corpus

runner = CliRunner()


def _chmod_000_stops_reading() -> bool:
    """False for root (or any process with CAP_DAC_OVERRIDE): it reads a chmod 000 file anyway."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


LOCKED_OUT = _chmod_000_stops_reading()
# The single huge line in the generate run: 5 MB, cut into ~5,500 passages (all but one dropped
# as exact duplicates before generation). At 50 MB it was the slowest part of the suite (527 s on
# an AVX2-only 2-core CPU) and proved nothing 5 MB does not: the cut is linear, and its speed at
# scale is benchmarks/huge_line.py's to measure. BT_HUGE_LINE_MB=50 runs the big one.
HUGE_LINE_MB = float(os.environ.get("BT_HUGE_LINE_MB", "5"))
BATCH_SIZE = 2  # generate sends passages in chunks of a few batches: small, so the first ends early

# Real prose, 40+ words each and all different, so every one survives the passage filters
# (length, letter ratio, boilerplate, exact duplicates) and must show up in the dataset.
PROSE = [
    "To connect to the office network from home, open the VPN client, choose the Berlin gateway and sign "
    "in with your usual account. The first connection asks you to approve a prompt on your phone. If the "
    "client reports a certificate error, check that the date and time on your laptop are correct.",
    "Our backups run every night at two in the morning and keep thirty daily copies. To restore a single "
    "file, open the backup browser, pick the date before the file was damaged, and download it to your "
    "desktop first. Never restore over the original until you have checked the copy opens properly.",
    "New team members spend their first week pairing with a mentor. They read the architecture notes, "
    "set up the development environment, fix one small bug from the starter list, and present what they "
    "learned on Friday afternoon. By the end of the week they should know whom to ask about what.",
    "A good sourdough loaf needs an active starter, patience and a hot oven. Feed the starter the night "
    "before, mix the dough in the morning, and fold it every half hour for two hours. Let it rise slowly "
    "in the fridge overnight, then bake it in a covered pot so the crust can blister.",
    "Check your bicycle chain once a month. Wipe it with a dry cloth, turn the pedals backwards while you "
    "drip a little oil onto each link, and wipe off whatever is left on the outside. A clean chain shifts "
    "smoothly, lasts much longer and makes the whole ride quieter and easier.",
    "Tomatoes want sun, warmth and steady water. Plant them deep, up to the first leaves, because the buried "
    "stem grows extra roots. Water at the base in the morning rather than over the leaves, and tie the "
    "main stem to a stake as it grows so the fruit does not pull the plant over.",
    "The reporting interface allows one hundred and twenty requests per minute for each workspace. When a "
    "client goes over that limit it receives status 429 and should wait for the number of seconds given in "
    "the retry header. Adding a little random delay keeps many workers from retrying together.",
    "In yesterday's planning meeting we agreed to move the release to the second week of March. Design will "
    "finish the settings screens first, the backend team will freeze the database changes by Friday, and "
    "support will prepare answers for the questions customers asked most often last quarter.",
    "A password manager remembers a different strong password for every site, so one leaked password no "
    "longer opens all your accounts. Choose one long passphrase you can remember for the manager itself, "
    "turn on two-step sign in, and let it fill in everything else for you.",
    "Most houseplants die from too much water rather than too little. Push a finger into the soil before "
    "watering; if the top few centimetres are still damp, wait another day or two. Pots need holes in the "
    "bottom, and saucers should be emptied so the roots never stand in water.",
    "A simple monthly budget starts with what you actually spent last month. Sort your bank statement into "
    "housing, food, transport, savings and everything else, then decide on one category to reduce. Small, "
    "specific changes that you can keep up work better than an ambitious plan you abandon.",
    "Learning a language a little every day beats long sessions once a week. Fifteen minutes of listening "
    "on the way to work, a few new words reviewed at lunch, and one short conversation in the evening build "
    "habits that last. Mistakes are part of learning, so speak before you feel ready.",
    "Good filter coffee depends on fresh beans, the right grind and water just off the boil. Use about sixty "
    "grams of coffee for each litre of water, rinse the paper filter first, and pour slowly in circles. If "
    "the cup tastes bitter, grind a little coarser next time; if sour, grind finer.",
    "When the office printer shows a paper jam but no paper is stuck, switch it off, open every door and "
    "tray, and look for small torn pieces near the rollers. Close everything firmly and switch it back on. "
    "If the message returns, write down the error code and call the facilities desk.",
    "A compost heap needs a mix of green and brown material. Kitchen scraps and grass cuttings bring nitrogen, "
    "while dry leaves, straw and cardboard bring carbon and air. Turn the heap every few weeks, keep it as "
    "damp as a wrung-out sponge, and it will be ready to use within a few months.",
    "Before a long trip, lay out everything you want to pack and then put half of it back. Roll clothes "
    "instead of folding them, keep medicine and documents in your hand luggage, and leave some space for "
    "things you will bring home. A light bag makes every train change and stairway easier.",
    "Writing a clear report starts with the conclusion. Tell the reader in the first paragraph what you "
    "found and what you recommend, then give the evidence in order of importance. Keep tables for numbers, "
    "use short sentences for explanations, and end with the decisions you need from them.",
    "Moving house goes more smoothly with a plan. Start packing rooms you rarely use a month ahead, label "
    "every box with its room and contents, and keep one box of essentials such as kettle, towels, chargers "
    "and tools with you. Take meter readings on the day you leave and the day you arrive.",
    "Running a first five kilometre race takes about eight weeks of steady preparation. Alternate running "
    "and walking three times a week, increasing the running a little each week. Rest days matter as much "
    "as training days, and comfortable shoes matter more than any expensive watch.",
    "French press coffee is forgiving and needs no paper filters. Add coarse ground coffee, pour hot water "
    "over it, stir once and wait four minutes before pressing the plunger down slowly. Pour everything out "
    "at once, because coffee left on the grounds keeps brewing and turns bitter.",
    "A thank-you note does not need to be long. Name the specific thing the person did, say how it helped "
    "you or the team, and send it soon, while the moment is still fresh. People remember a short, sincere "
    "message for years, long after they have forgotten the project itself.",
    "If your laptop battery drains quickly, open the battery settings and look at which programs used the "
    "most power in the last day. Close the browser tabs you are not reading, lower the screen brightness a "
    "little, and unplug the charger once it is full instead of keeping it connected all week.",
    "Before you call a meeting, write down the decision it should produce. Invite only the people needed "
    "for that decision, send the background reading a day ahead, and keep the meeting to thirty minutes. "
    "Afterwards, send a short summary of what was decided and who does what by when.",
]
_prose = iter(PROSE)


def prose() -> str:
    """The next unused paragraph: every good document in the corpus is different."""
    return next(_prose)  # build_corpus starts the iterator afresh


def mail(subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Lopez <ana@example.com>"
    msg["To"] = "Ben Okoye <ben@example.com>"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@dataclass(frozen=True)
class Kind:
    """One kind of input: a folder named after it, how its content is written, and what reading gives."""

    name: str
    build: Callable[[Path], None]  # writes into the (existing) folder corpus / name
    skipped: dict[str, int]  # read-stage skips: reason -> count
    good: tuple[str, ...] = ()  # "file#row" of the good documents inside, relative to the folder
    documents: Optional[int] = None  # documents read, when more than the good ones

    @property
    def read(self) -> int:
        return len(self.good) if self.documents is None else self.documents


# --- the bad inputs, in the order of the list they were written from ----------------------------


def _binary(d: Path) -> None:
    write(d / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(4096))


def _invalid_utf8(d: Path) -> None:
    write(d / "garbage.txt", bytes(random.Random(2).randrange(0x80, 0x100) for _ in range(4096)))


def _utf16(d: Path) -> None:
    write(d / "notes.txt", ("\ufeff" + prose()).encode("utf-16-le"))


def _huge_line(d: Path) -> None:
    # Sentences on one line: cut at sentence ends, every piece starts a sentence (a piece cut
    # inside a sentence is dropped by the standalone filter, test_hygiene.py).
    write(d / "lorem.txt", "Lorem ipsum dolor sit amet. " * int(HUGE_LINE_MB * 1024 * 1024 / 28))


NESTED = "/".join(f"level{i:02d}" for i in range(40))


def _nested(d: Path) -> None:
    write(d / NESTED / "bottom.txt", prose())


def _symlink_loop(d: Path) -> None:
    write(d / "inner" / "note.md", prose())
    os.symlink("..", d / "inner" / "link")  # inner/link -> the kind's folder, its own ancestor


def _broken_symlink(d: Path) -> None:
    os.symlink("missing.txt", d / "dangling.txt")


def _unreadable(d: Path) -> None:
    write(d / "locked.txt", prose()).chmod(0)  # root reads it anyway: then it is good data
    os.mkfifo(d / "pipe.txt")  # opening it would block the run forever


def _malformed_jsonl(d: Path) -> None:
    rows = [
        json.dumps({"text": prose()}),
        '{"text": "cut off in the mid',
        "not json at all",
        json.dumps({"text": prose(), "id": "row-3"}),
        "{}}",
    ]
    write(d / "rows.jsonl", "\n".join(rows) + "\n")


def _mbox(d: Path) -> None:
    broken = b"From: c@example.com\nSubject: Cut off\nContent-Type: multipart/alternative; boundary=B\n\ncut\n"
    messages = [mail("Races", prose()).as_bytes(), broken, mail("Coffee", prose()).as_bytes()]
    separator = b"From ana@example.com Mon Jan  6 09:12:00 2025\n"
    write(d / "archive.mbox", b"".join(separator + m + b"\n" for m in messages))


def _zip(d: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inside.txt", "A text file inside an archive, which the reader does not open.")
    write(d / "archive.zip", buf.getvalue())


def _corrupt_parquet(d: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    write(d / "garbage.parquet", b"PAR1" + random.Random(3).randbytes(2048) + b"PAR1")
    pq.write_table(
        pa.table({"text": [f"Row {i} of a table whose pages are damaged." for i in range(200)]}),
        d / "corrupt_page.parquet",
    )
    column = pq.ParquetFile(d / "corrupt_page.parquet").metadata.row_group(0).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray((d / "corrupt_page.parquet").read_bytes())
    data[start : start + 20] = b"\xff" * 20  # the first page header: pyarrow raises an errno-less OSError
    write(d / "corrupt_page.parquet", bytes(data))


def _attachment_only(d: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "Scan"
    msg.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf", filename="scan.pdf")
    write(d / "scan.eml", msg.as_bytes())


def _latin1(d: Path) -> None:
    write(
        d / "cafe.txt",
        "Le café du coin ouvre à sept heures. On y prend un crème et une tartine, puis on lit "
        "le journal près de la fenêtre. Le garçon connaît tous les habitués et leurs "
        "préférences; à midi, la salle se remplit d'ouvriers et d'employés pressés qui "
        "déjeunent en vingt minutes avant de repartir travailler.".encode("latin-1"),
    )


def _markup_only(d: Path) -> None:
    write(d / "table.md", "| --- | --- | --- |\n" * 30 + "#### ---- **** ```` <<<>>> ==== ~~~~\n" * 10)


def _lone_surrogate(d: Path) -> None:
    # A JSON escape for half an emoji: json.loads gives a str that no tokenizer or UTF-8 file takes.
    write(d / "emoji.jsonl", json.dumps({"text": prose()}).replace(". ", ". \\ud83d ", 1) + "\n")


def _8bit_header(d: Path) -> None:
    # A raw Latin-1 byte in an address the parser cannot take apart comes back as a surrogate escape.
    msg = mail("Battery", prose()).as_bytes()
    write(d / "header.eml", msg.replace(b"From: Ana Lopez <ana@example.com>", b"From: Ren\xe9 A.<rene@example.com>"))


def _8bit_body(d: Path) -> None:
    # Old mail and hand-made .eml files: raw UTF-8 in the body, and no MIME headers to say so.
    write(d / "recipe.eml", ("From: Zoë <zoe@example.com>\nSubject: Crème brûlée\n\n" + ACCENTED).encode("utf-8"))


ACCENTED = (
    "Zoë's crème brûlée needs only cream, egg yolks, sugar and a vanilla pod. Warm the cream, whisk "
    "it slowly into the yolks, and bake the custard in a water bath at a low heat until it barely "
    "wobbles. Chill it overnight, then caramelise a thin layer of sugar on top just before serving."
)


KINDS = [
    Kind("k01_binary", _binary, {"binary file": 1}),
    Kind("k02_invalid_utf8", _invalid_utf8, {"undecodable text": 1}),
    Kind("k03_utf16_bom", _utf16, {}, good=("notes.txt#0",)),
    Kind("k04_empty", lambda d: write(d / "empty.txt", b""), {"empty": 1}),
    Kind("k05_whitespace_only", lambda d: write(d / "blank.md", " \n\t\r\n  \n"), {"empty": 1}),
    Kind("k06_huge_single_line", _huge_line, {}, good=("lorem.txt#0",)),  # cut by tokens, then deduplicated
    Kind("k07_deeply_nested", _nested, {}, good=(f"{NESTED}/bottom.txt#0",)),
    Kind("k08_symlink_loop", _symlink_loop, {"symlink loop": 1}, good=("inner/note.md#0",)),
    Kind("k09_broken_symlink", _broken_symlink, {"unreadable: broken symlink": 1}),
    Kind(
        "k10_unreadable_and_fifo",
        _unreadable,
        {"not a regular file": 1, **({"unreadable: permission denied": 1} if LOCKED_OUT else {})},
        good=() if LOCKED_OUT else ("locked.txt#0",),
    ),
    Kind("k11_malformed_jsonl", _malformed_jsonl, {"malformed JSON line": 3}, good=("rows.jsonl#0", "rows.jsonl#3")),
    Kind(
        "k12_csv_without_text_column",
        lambda d: write(d / "table.csv", 'title,body\nVPN,"How to connect."\n'),
        {"missing text field 'text'": 1},
    ),
    # Headers cut mid-line and no body: the parser takes what is there, and the body is empty.
    Kind(
        "k13_truncated_eml",
        lambda d: write(d / "cut.eml", b"From: Ana <ana@example.com>\nTo: Ben <ben@exa"),
        {"empty": 1},
    ),
    Kind(
        "k14_mbox_with_broken_message", _mbox, {"broken e-mail message": 1}, good=("archive.mbox#0", "archive.mbox#2")
    ),
    Kind(
        "k15_html_without_body",
        lambda d: write(d / "shell.html", "<html><head><title>Nothing</title></head></html>"),
        {"no main text in HTML": 1},
    ),
    Kind("k16_zip", _zip, {"unsupported extension": 1}),
    # k17, a file deleted mid-run, is LATE below: it must be listed before it is deleted.
    Kind(
        "k18_invalid_json",
        lambda d: write(d / "broken.json", '{"text": "the closing brace was lost",\n "id": 7\n'),
        {"malformed JSON file": 1},
    ),
    Kind(
        "k19_json_list_of_scalars",
        lambda d: write(d / "scalars.json", json.dumps([1, "two", [3], None])),
        {"row is not a JSON object": 4},
    ),
    Kind("k20_corrupt_parquet", _corrupt_parquet, {"broken Parquet file": 2}),
    Kind(
        "k21_nul_bytes",
        lambda d: write(d / "nul.txt", b"Looks like text\x00\x00 but has NUL bytes\n"),
        {"binary file": 1},
    ),
    Kind("k22_eml_attachment_only", _attachment_only, {"e-mail has no text part": 1}),
    Kind("k23_latin1", _latin1, {}, good=("cafe.txt#0",)),
    # Read, then its passages are dropped by the passage filter text_ratio (checked below).
    Kind("k24_markup_only", _markup_only, {}, documents=1),
    Kind("k25_json_lone_surrogate", _lone_surrogate, {}, good=("emoji.jsonl#0",)),
    Kind("k26_eml_8bit_header", _8bit_header, {}, good=("header.eml#0",)),
    Kind(
        "k27_json_nested_too_deep",
        lambda d: write(d / "deep.json", "[" * 100_000 + "]" * 100_000),
        {"malformed JSON file": 1},
    ),
    Kind("k28_eml_8bit_body_without_charset", _8bit_body, {}, good=("recipe.eml#0",)),
]
# k17: sorts last and sits at the top, so the first listing names it; the run deletes it after
# its first chunk, long before the reader gets there.
LATE = "zz_k17_deleted_mid_run.txt"
GOOD_FILES = [f"good{i:02d}.{ext}" for i, ext in enumerate(["txt", "md", "eml"] * 4)]


def build_corpus(root: Path) -> list[str]:
    """Write the messy corpus; returns "source#row" of every good document in it."""
    global _prose
    _prose = iter(PROSE)
    good = []
    for name in GOOD_FILES:
        text = prose()
        write(root / name, mail(f"Note {name}", text).as_bytes() if name.endswith(".eml") else text)
        good.append(f"{name}#0")
    for kind in KINDS:
        (root / kind.name).mkdir()
        kind.build(root / kind.name)
        good += [f"{kind.name}/{g}" for g in kind.good]
    write(root / LATE, prose())
    return good


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("messy-corpus")
    return root, build_corpus(root)


# --- each kind on its own ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind_is_read_or_skipped_with_its_reason(corpus, kind: Kind) -> None:
    root, _ = corpus
    stats = ReadStats()
    records = list(read_corpus(str(root / kind.name), stats=stats))
    assert dict(stats.skipped) == kind.skipped, stats.examples
    assert set(kind.good) <= {f"{r.meta['source']}#{r.meta['row']}" for r in records}
    assert len(records) == kind.read
    for r in records:  # what the dataset writer and the tokenizer will be given
        r.output.encode("utf-8")
        json.dumps(r.meta, ensure_ascii=False).encode("utf-8")


def test_latin1_and_8bit_text_keep_their_letters(corpus) -> None:
    root, _ = corpus
    [cafe] = read_corpus(str(root / "k23_latin1"))
    assert "Le café du coin ouvre à sept heures" in cafe.output and "\ufffd" not in cafe.output
    [emoji] = read_corpus(str(root / "k25_json_lone_surrogate"))
    assert "\ufffd" in emoji.output  # the half emoji, and nothing else, is replaced
    [mail_] = read_corpus(str(root / "k26_eml_8bit_header"))
    assert mail_.meta["from"] == "Ren\ufffd A.<rene@example.com>" and mail_.output.startswith("Subject: Battery")
    [recipe] = read_corpus(str(root / "k28_eml_8bit_body_without_charset"))
    assert recipe.output == "Subject: Crème brûlée\n\n" + ACCENTED


def test_a_50_mb_single_line_is_read_not_skipped(tmp_path: Path) -> None:
    write(tmp_path / "lorem.txt", "lorem " * (50 * 1024 * 1024 // 6))
    stats = ReadStats()
    [doc] = read_corpus(str(tmp_path), stats=stats)
    assert len(doc.output) > 50_000_000 and not stats.skipped


# --- one generate run over everything, through the CLI -------------------------------------------


@pytest.fixture(scope="module")
def run(corpus, tiny_model_dir, tmp_path_factory):
    """`backtranslate generate` over the messy corpus; LATE is deleted after the first chunk."""
    root, _ = corpus
    out = tmp_path_factory.mktemp("messy-run") / "dataset"
    real_generate = generate_module.generate
    progress: list[dict] = []

    def generate_deleting_late(cfg, on_progress=None):
        def on_chunk(counts):
            progress.append(dict(counts))
            (root / LATE).unlink(missing_ok=True)
            if on_progress:
                on_progress(counts)

        return real_generate(cfg, on_progress=on_chunk)

    args = [
        "generate",
        "--corpus",
        str(root),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(out),
        "--greedy",
        "--max-new-tokens",
        "8",
        "--batch-size",
        str(BATCH_SIZE),
        "--no-filter",
        "--precision",
        "fp32",
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate_module, "generate", generate_deleting_late)
        started = time.perf_counter()
        result = runner.invoke(cli.app, args)
        seconds = time.perf_counter() - started
    return {
        "result": result,
        "out": out,
        "seconds": seconds,
        "progress": progress,
        "stats": json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else None,
        **{name: _rows(out / f"{name}.jsonl") for name in ("data", "candidates", "rejected")},
    }


def _rows(path: Path) -> list[dict]:
    """The lines of a JSONL output; none when the run died before writing it (its own test says why)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_the_run_exits_0_without_a_traceback(run) -> None:
    result = run["result"]
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    assert "generate summary" in result.output and "dropped by reason" in result.output
    # The first chunk ended before the reader was done, so the late file was deleted before it was
    # reached (its "file vanished" count is checked with the other reasons).
    assert run["progress"] and run["progress"][0]["documents"] < run["stats"]["read"]["documents"]


def test_every_good_document_reaches_the_dataset(run, corpus) -> None:
    _, good = corpus
    for name in ("data", "candidates"):
        found = {f"{r['meta']['source']}#{r['meta']['row']}" for r in run[name]}
        assert not set(good) - found, f"{name}.jsonl lacks {sorted(set(good) - found)}"
    assert len(run["data"]) == len(run["candidates"]) == run["stats"]["pairs"]["kept"]  # --no-filter


def test_every_bad_item_is_counted_with_its_reason(run) -> None:
    expected = Counter({"unreadable: file vanished": 1})  # k17
    for kind in KINDS:
        expected.update(kind.skipped)
    skipped = run["stats"]["read"]["skipped"]
    assert skipped == dict(expected)
    lines = run["result"].output.splitlines()
    for reason, n in expected.items():  # the 'dropped by reason' table: stage, reason, count
        row = [line for line in lines if reason in line and line.rstrip(" │|").endswith(f" {n}")]
        assert row and "read" in row[0], reason


def test_markup_is_dropped_by_text_ratio_and_the_huge_line_is_cut(run) -> None:
    markup = [r for r in run["rejected"] if r["meta"]["source"].startswith("k24_markup_only/")]
    # Cut at its lines now, the file's last rows can form a piece too short to judge by its letters.
    assert markup and all(
        r["stage"] == "passage" and r["reason"].startswith(("text_ratio", "passage_length")) for r in markup
    )
    assert any(r["reason"].startswith("text_ratio") for r in markup)
    huge = [r for r in run["data"] if r["meta"]["source"] == "k06_huge_single_line/lorem.txt"]
    assert huge and huge[0]["meta"]["end"] < 10_000  # a passage, not the whole line
    dropped = run["stats"]["passages"]["dropped"]
    # The same lorem passage over and over: later pieces go as continuations or duplicates.
    assert dropped.get("exact_duplicate", 0) + dropped.get("standalone", 0) > 100


# --- whole-request failures: exit 2, one sentence, no traceback ---------------------------------


@pytest.mark.parametrize("case", ["no corpus", "no model", "unwritable output"])
def test_whole_request_failures_exit_2_with_one_error_line(case, tiny_model_dir, tmp_path) -> None:
    good = write(tmp_path / "corpus" / "note.txt", PROSE[0])
    (tmp_path / "a-file").write_text("not a folder")
    corpus, model, out = str(good.parent), str(tiny_model_dir), str(tmp_path / "out")
    corpus, model, out, message = {
        "no corpus": (str(tmp_path / "missing"), model, out, "does not exist"),
        "no model": (corpus, "./nowhere", out, "Model './nowhere' not found"),
        "unwritable output": (corpus, model, str(tmp_path / "a-file" / "out"), "Cannot write to output folder"),
    }[case]
    result = runner.invoke(cli.app, ["generate", "--corpus", corpus, "--model", model, "--out", out])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    # stderr holds the one sentence and nothing else (rich hard-wraps it at 80 columns; see below)
    sentence = " ".join(result.stderr.split())
    assert sentence.startswith("Error: ") and message in sentence and sentence.endswith(".")
    assert sentence.count("Error:") == 1


def test_a_long_error_stays_on_one_line(tmp_path) -> None:
    result = runner.invoke(cli.app, ["generate", "--corpus", str(tmp_path / ("missing-" * 12))])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1

import json
import shutil
import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.readers.seed import load_seed
from backtranslate.report import CHART_FILES, opening

runner = CliRunner()
SECTIONS = ("lengths", "reasons", "scores", "tasks", "openings", "duplicates", "samples")


@pytest.fixture()
def curated(tmp_path):
    """A curated-looking folder: 40 seed pairs with scores, one near-duplicate instruction, an
    instruction with markup, and rejects from three stages."""
    rows = []
    for i, r in enumerate(load_seed("default").records[:40]):
        rows.append({**r.to_alpaca(), "id": f"p{i}", "meta": {"scores": {"likelihood": round(0.1 + i / 50, 3)}}})
    rows.append({**rows[0], "id": "dup", "instruction": rows[0]["instruction"] + " Thanks!"})
    rows.append(
        {
            "instruction": "Please explain <script>alert(1)</script> tags.",
            "input": "",
            "output": "Script tags hold JavaScript.",
            "id": "html",
            "meta": {"scores": {"likelihood": 0.5}},
        }
    )
    rejected = [
        {
            "instruction": "x",
            "input": "",
            "output": "y",
            "id": f"c{i}",
            "stage": "curate",
            "reason": f"curate_likelihood: score {-i / 10} < 0.1",
            "meta": {"scores": {"likelihood": -i / 10}},
        }
        for i in range(5)
    ]
    rejected += [
        {
            "instruction": "As an AI I cannot",
            "input": "",
            "output": "z",
            "id": "r",
            "stage": "pair",
            "reason": "refusal: 'As an AI'",
            "meta": {},
        },
        {
            "instruction": "",
            "input": "",
            "output": "unsubscribe",
            "id": "b",
            "stage": "passage",
            "reason": "boilerplate: unsubscribe",
            "meta": {},
        },
    ]
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejected))
    (folder / "stats.json").write_text(json.dumps({"cutoff": 0.1, "read": {"skipped": {"binary file": 2}}}))
    return folder


@pytest.mark.parametrize(
    "instruction, word",
    [
        ("Write a short e-mail to Dana.", "write"),
        ("Please summarize this memo.", "summarize"),
        ("Can you please explain VPNs?", "explain"),
        ("could you, kindly, list three risks", "list"),
        ("  ", None),
        ("1. Do this", "do"),
    ],
)
def test_openings_skip_lead_ins(instruction, word):
    assert opening(instruction) == word


def test_report_writes_the_page_charts_and_numbers(curated):
    result = runner.invoke(app, ["report", str(curated), "--samples", "50"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "near-duplicate clusters" in result.output
    out = curated / "report"
    page = (out / "index.html").read_text()
    for section in SECTIONS:
        assert f"id='{section}'" in page
    for name in CHART_FILES:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width >= 1000 and image.height >= 200
        assert f"src='{name}'" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # text is escaped

    numbers = json.loads((out / "report.json").read_text())
    assert numbers["pairs"] == 42 and numbers["rejected"] == 9  # 7 rejected rows + 2 skipped files
    reasons = {(d["stage"], d["reason"]): d["count"] for d in numbers["dropped"]}
    assert reasons == {
        ("curate", "curate_likelihood"): 5,
        ("pair", "refusal"): 1,
        ("passage", "boilerplate"): 1,
        ("read", "binary file"): 2,
    }
    assert numbers["scores"]["likelihood"]["kept"]["count"] == 42
    assert numbers["scores"]["likelihood"]["rejected"]["count"] == 5 and numbers["cutoff"] == 0.1
    clusters = numbers["near_duplicates"]["instruction"]["top"]
    assert clusters[0]["size"] == 2 and set(clusters[0]["ids"]) == {"p0", "dup"}
    assert numbers["near_duplicates"]["output"]["clusters"] == 1  # the copy kept the output too
    assert numbers["openings"][0][0] == "write" and len(numbers["samples"]) == 42  # all, when fewer than asked
    mix = numbers["task_mix"]
    assert mix["pairs"] == 42 and sum(mix["types"].values()) == 42 and 0 < mix["entropy"] < 1
    assert "task-type entropy" in page and f"Normalized entropy {mix['entropy']:g}" in page


def test_report_on_an_unscored_dataset_says_how_to_score(tmp_path):
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(r.to_alpaca()) + "\n" for r in load_seed("default").records[:5]))
    result = runner.invoke(app, ["report", str(source), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "No scores yet" in (tmp_path / "r" / "index.html").read_text()
    assert all((tmp_path / "r" / name).is_file() for name in CHART_FILES)


def test_report_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "data.jsonl").write_text("")
    result = runner.invoke(app, ["report", str(empty)])
    assert result.exit_code == 2 and "holds no pairs" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt install chromium)")
def test_the_page_renders_in_chromium_without_overflow(curated, tmp_path):
    runner.invoke(app, ["report", str(curated)])
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            (curated / "report" / "index.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-500:]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        background = rgb.getpixel((5, 5))
        # charts were drawn (many colours), and nothing runs past the centred 1080 px column
        assert len(rgb.getcolors(1 << 20) or []) > 50
        margin = rgb.crop((1280 - 60, 0, 1280, rgb.height))
        assert set(margin.getdata()) == {background}

"""`backtranslate plan`: the same reading and cutting as generate, a sample through the model,
estimates, and nothing written."""

from typer.testing import CliRunner

from backtranslate.cli import app
from backtranslate.config import GenerateConfig
from backtranslate.generate import generate
from backtranslate.plan import plan

runner = CliRunner()
TEXT = (
    "Note {i}. The harbour office opens at eight and closes at noon on Saturdays during the winter, "
    "and the ferries leave every {i} hours from the north pier except on public holidays."
)


def _corpus(tmp_path, n=20):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(n):
        (corpus / f"note-{i:02d}.txt").write_text(TEXT.format(i=i + 2) + "\n")
    (corpus / "short.txt").write_text("Too short.\n")  # dropped by passage_length before the model
    return corpus


def test_plan_counts_what_generate_would_send_and_writes_nothing(tiny_model_dir, tmp_path):
    cfg = dict(
        corpus=str(_corpus(tmp_path)),
        model=str(tiny_model_dir),
        greedy=True,
        max_new_tokens=4,
        min_tokens=4,
        relevance=False,
        precision="fp32",
    )
    p = plan(GenerateConfig(out=str(tmp_path / "planned"), **cfg), sample=5)
    assert not (tmp_path / "planned").exists()
    assert (p.files, p.documents, p.passages_cut, p.passages) == (21, 21, 21, 20)
    assert p.passage_drops == {"passage_length": 1} and p.prompt_tokens > 20 * 20
    assert p.sample == 5 and p.candidates == 5 and p.sample_seconds > 0
    assert p.expected_kept == round(p.kept / 5 * 20) and p.seconds == p.sample_seconds / 5 * 20
    # a real run sends the same passages to the model
    stats = generate(GenerateConfig(out=str(tmp_path / "run"), **cfg)).stats
    assert stats["passages"]["kept"] == p.passages and stats["passages"]["segmented"] == p.passages_cut
    written = sum((tmp_path / "run" / f).stat().st_size for f in ("data.json", "data.jsonl", "candidates.jsonl"))
    assert written > 0 and p.disk_bytes > 0


def test_plan_command_prints_the_estimates(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "plan",
            "--corpus",
            str(_corpus(tmp_path, 4)),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--greedy",
            "--max-new-tokens",
            "4",
            "--min-tokens",
            "4",
            "--no-relevance",
            "--precision",
            "fp32",
        ],
    )
    assert result.exit_code == 0, result.output
    for line in ("passages to the model", "expected kept pairs", "generation time", "Nothing was written"):
        assert line in result.output
    assert not out.exists()


def test_plan_retries_as_generate_does(tiny_model_dir, tmp_path):
    cfg = dict(
        corpus=str(_corpus(tmp_path)),
        model=str(tiny_model_dir),
        max_new_tokens=4,
        min_tokens=4,
        relevance=False,
        precision="fp32",
    )
    plain = plan(GenerateConfig(out=str(tmp_path / "a"), greedy=True, **cfg), sample=5)
    retried = plan(GenerateConfig(out=str(tmp_path / "b"), greedy=True, retry=2, **cfg), sample=5)
    # the passages whose greedy pair was dropped get 2 sampled candidates each
    assert retried.candidates == 5 + 2 * (5 - plain.kept) and retried.kept >= plain.kept

"""The `backtranslate` command line: parse flags into a config, call the stage, print a summary.

Each command's options are generated from its config dataclass (config.py), so help texts,
defaults and YAML presets have one source.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import (
    CheckConfig,
    ConvertConfig,
    CurateConfig,
    DedupConfig,
    EvalConfig,
    FinetuneConfig,
    GenerateConfig,
    IterateConfig,
    MergeConfig,
    ReportConfig,
    TrainConfig,
    field_help,
    field_types,
    resolve,
    section_of,
    to_dict,
)
from .errors import UserError
from .runstats import RunStats

app = typer.Typer(
    help="Turn raw text into instruction-tuning data by instruction backtranslation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line in logs and CI


def _option(name: str, tp: Any, help: str, default: Any, aliases: tuple[str, ...] = ()) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    base = next((a for a in getattr(tp, "__args__", ()) if a is not type(None)), tp)
    decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag, *aliases]
    shown = "" if default is None else f" [default: {default}]"
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[base],
        default=typer.Option(None, *decls, help=help + shown, show_default=False),
    )


def _argument(name: str, metavar: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Optional[str],
        default=typer.Argument(None, metavar=metavar, help=help, show_default=False),
    )


def config_command(cls: type, arguments: Optional[dict[str, str]] = None) -> Callable:
    """Give a command one flag per field of ``cls`` plus --config and --dry-run; the wrapped
    function receives the resolved config. Fields named in ``arguments`` (field -> METAVAR) are
    positional arguments instead (optional, so a YAML preset can set them too)."""
    arguments = arguments or {}

    def decorate(fn: Callable[[Any], None]) -> Callable:
        helps, types_ = field_help(cls), field_types(cls)
        aliases = {f.name: f.metadata.get("aliases", ()) for f in dataclasses.fields(cls)}
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        params = (
            [_argument(n, metavar, helps[n]) for n, metavar in arguments.items()]
            + [
                inspect.Parameter(
                    "config",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Optional[str],
                    default=typer.Option(None, "--config", "-c", help="YAML preset (see configs/); flags override it."),
                ),
                inspect.Parameter(
                    "dry_run",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=bool,
                    default=typer.Option(False, "--dry-run", help="Print the resolved config as YAML and exit."),
                ),
            ]
            + [_option(n, types_[n], helps[n], defaults[n], aliases.get(n, ())) for n in helps if n not in arguments]
        )

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            config_path, dry_run = kwargs.pop("config"), kwargs.pop("dry_run")
            with user_errors():
                cfg = resolve(cls, config_path, kwargs)
                section = section_of(cls)
                resolved = yaml.safe_dump({section: to_dict(cfg)}, sort_keys=False)
                if dry_run:
                    typer.echo(resolved, nl=False)
                    return
                # Data-parallel training (accelerate/torchrun): one process speaks for all.
                console.quiet = section in ("train", "finetune") and int(os.environ.get("RANK", "0")) > 0
                console.rule(f"[bold]{section}")
                console.print(resolved.rstrip(), highlight=False)
                fn(cfg)

        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # Typer must read our signature, not fn's
        return command

    return decorate


class user_errors:
    """Turn a UserError into one red sentence and exit status 2, without a traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, UserError):
            err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
            raise typer.Exit(2)
        return False


@app.command()
@config_command(TrainConfig)
def train(cfg: TrainConfig) -> None:
    """Fine-tune the backward model: it learns to write the instruction for a given response.

    Example: backtranslate train --config configs/cpu-demo.yaml --output-dir runs/backward
    """
    from .train import train as run_train

    print_train_summary(run_train(cfg), "train summary", "adapter")


@app.command()
@config_command(FinetuneConfig, arguments={"dataset": "DATASET"})
def finetune(cfg: FinetuneConfig) -> None:
    """Fine-tune a forward (instruction-following) model on an Alpaca dataset, optionally mixed
    with the seed and tagged as in Humpback.

    Example: backtranslate finetune runs/demo/dataset --seed default --output-dir runs/forward
    """
    from .train import finetune as run_finetune

    print_train_summary(run_finetune(cfg), "finetune summary", "forward adapter")


def print_train_summary(result, title: str, what: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_row("pairs (train / val)", f"{result.train_examples} / {result.val_examples}")
    for reason, n in sorted(result.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    table.add_row("precision", result.precision)
    table.add_row("train loss", f"{result.train_loss:.4f}")
    table.add_row("validation loss", "-" if result.val_loss is None else f"{result.val_loss:.4f}")
    table.add_row("tokens/s", f"{result.tokens_per_second:.1f}")
    table.add_row("time", f"{result.runtime_s:.1f} s")
    if result.eval:
        for role in ("model", "baseline"):
            m = (result.eval["metrics"] or {}).get(role)
            if m:
                table.add_row(f"held-out {role} ROUGE-L / cosine", f"{m['rouge_l']:.4f} / {m['cosine']:.4f}")
    table.add_row(what, str(result.output_dir))
    console.print(table)


@app.command()
@config_command(GenerateConfig)
def generate(cfg: GenerateConfig) -> None:
    """Backtranslate a corpus into an Alpaca dataset: passages, candidate instructions, filters.

    Example: backtranslate generate --corpus corpora/emails --model runs/demo/backward --out runs/demo/dataset
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .generate import generate as run_generate
    from .readers.corpus import count_files

    # The stages stream into each other: only the files have a total known before the run (one
    # listing of the corpus), and the share of files read gives the whole run's ETA.
    files_total = count_files(cfg.corpus)
    log = PlainProgress(files_total)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        MofNCompleteColumn(),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        tasks = {
            key: progress.add_task(label, total=None)
            for key, label in (
                ("files", "read files"),
                ("documents", "read documents"),
                ("segmented", "cut passages"),
                ("passages", "passages to the model"),
                ("candidates", "candidate instructions"),
                ("kept", "pairs kept"),
            )
        }
        progress.update(tasks["files"], total=files_total)
        if cfg.max_passages:
            progress.update(tasks["passages"], total=cfg.max_passages)

        def show(counts: dict) -> None:
            for key, task in tasks.items():
                progress.update(task, completed=counts[key])
            log.update(counts)

        result = run_generate(cfg, on_progress=show)
    print_generate_summary(result)
    if cfg.push_to_hub:
        if "shard" in result.out.name:
            console.print(
                f"Not pushed: {result.out} is one shard; push the whole run with "
                f"`backtranslate merge {cfg.out} --push-to-hub {cfg.push_to_hub}`.",
                highlight=False,
            )
        else:
            push_folder(result.out, cfg.push_to_hub, cfg.hub_private)


@app.command()
@config_command(GenerateConfig)
def plan(cfg: GenerateConfig) -> None:
    """Before a long generate run: read and cut the corpus, run a sample through the model, and
    estimate passages, tokens, time, kept pairs and disk use. Writes nothing.

    Example: backtranslate plan --corpus ~/Maildir --model runs/demo/backward
    """
    from rich.table import Table

    from .plan import plan as make_plan

    p = make_plan(cfg)
    table = Table(title="plan (generate with these settings)", show_header=False)
    table.add_column("what")
    table.add_column("estimate", justify="right")
    rows = [
        ("files", f"{p.files}"),
        ("documents", f"{p.documents}" + (f" ({sum(p.skipped.values())} files skipped)" if p.skipped else "")),
        ("passages cut", f"{p.passages_cut}"),
        ("passages to the model", f"{p.passages}"),
        ("prompt tokens (passages)", f"{p.prompt_tokens:,}"),
        ("dropped before the model", ", ".join(f"{k} {v}" for k, v in p.passage_drops.items()) or "none"),
        ("sample through the model", f"{p.sample} passages, {p.candidates} candidates, {p.kept} kept"),
        ("sample dropped by", ", ".join(f"{k} {v}" for k, v in p.pair_drops.items()) or "none"),
        (f"generation time ({p.backend}, {p.precision})", f"about {_clock(p.seconds)} (+{p.load_seconds:.0f} s load)"),
        ("expected kept pairs", f"about {p.expected_kept}"),
        ("disk", f"about {p.disk_bytes / 1e6:.1f} MB in {cfg.out}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(
        f"Estimates from {p.sample} random passages run as one batch; full batches are faster. Nothing was written.",
        highlight=False,
    )


class PlainProgress:
    """Progress as plain lines when the output is not a terminal (CI logs, nohup, Slurm): rich
    draws nothing there until the end, so a long run would look stuck. One line every
    ``every`` seconds, and the first at once: done/total files, rate and ETA, no ANSI codes."""

    def __init__(self, files_total: Optional[int], every: float = 30.0):
        import time

        self.files_total, self.every, self.clock = files_total, every, time.monotonic
        self.started, self.last = self.clock(), None

    def update(self, counts: dict) -> None:
        now = self.clock()
        if console.is_terminal or (self.last is not None and now - self.last < self.every):
            return
        self.last = now
        console.print(self.line(counts, now - self.started), highlight=False, markup=False, soft_wrap=True)

    def line(self, counts: dict, elapsed: float) -> str:
        files, total = counts["files"], self.files_total
        done = f"files {files}/{total}" if total else f"files {files}"
        parts = [
            done,
            f"passages {counts['passages']}",
            f"candidates {counts['candidates']}",
            f"kept {counts['kept']}",
            f"{counts['passages'] / max(elapsed, 1e-9):.2f} passages/s",
        ]
        if total and files:
            remaining = elapsed * (total - files) / files
            parts.append(f"elapsed {_clock(elapsed)}, ETA {_clock(remaining)}")
        return "generate: " + ", ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _names(value: Optional[str]) -> list[str]:
    """A comma list given as one value (--format, --fields)."""
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def check_hub_name(name: Optional[str]) -> None:
    """A bad --push-to-hub name fails before the work, not after it."""
    if name:
        from .hub import check_repo_id

        check_repo_id(name)


def beside(dataset: str, what: str) -> str:
    """DATASET/what for a folder, DATASET-what next to a file."""
    from pathlib import Path

    path = Path(dataset)
    return str(path / what if path.is_dir() else path.with_name(f"{path.stem}-{what}"))


def push_folder(folder, name: str, private: bool) -> None:
    """Push a finished dataset folder, after its summary: a failed upload leaves the folder whole."""
    from .hub import push

    with user_errors(), console.status(f"Pushing {folder} to the Hub dataset {name} ..."):
        url = push(folder, name, private=private)
    console.print(f"Pushed to {url} ({'private' if private else 'public'}) with its dataset card.", highlight=False)


# The same two options on every command that writes a dataset folder.
HUB_NAME = typer.Option(
    None, "--push-to-hub", help="Also push the result and its card to this Hub dataset repo ('user/name')."
)
HUB_PRIVATE = typer.Option(True, "--hub-private/--no-hub-private", help="Push as a private dataset [default: private].")


def print_generate_summary(result) -> None:
    s = RunStats.from_dict(result.stats)
    table = Table(title="generate summary")
    for col, justify in (("stage", "left"), ("in", "right"), ("kept", "right"), ("dropped", "right")):
        table.add_column(col, justify=justify)
    read_skipped = sum(s.read.skipped.values())
    # Reading turns files into documents (an mbox or a JSONL file holds many); skips count both
    # whole files and single rows or messages.
    table.add_row("read (files -> documents)", str(s.read.files), str(s.read.documents), str(read_skipped))
    p, q = s.passages, s.pairs
    table.add_row("passages", str(p.segmented), str(p.kept), str(sum(p.dropped.values())))
    table.add_row("pairs", str(q.candidates), str(q.kept), str(q.rejected))
    if q.retried:  # --retry: passages that got sampled candidates after their greedy one was dropped
        n, k = q.retried.get("passages", 0), q.retried.get("kept", 0)
        table.add_row("retried passages (--retry)", str(n), str(k), str(n - k))
    console.print(table)
    reasons = [("read", k, v) for k, v in s.read.skipped.items()]
    reasons += [("passage", k, v) for k, v in p.dropped.items()]
    reasons += [("pair", k, v) for k, v in q.dropped.items()]
    if reasons:
        why = Table(title="dropped by reason (see rejected.jsonl)")
        for col in ("stage", "reason", "count"):
            why.add_column(col, justify="right" if col == "count" else "left")
        for stage, reason, n in reasons:
            why.add_row(stage, reason, str(n))
        console.print(why)
    for line in privacy_summary(s):
        console.print(line, highlight=False)
    if s.task_mix and s.task_mix["pairs"]:
        mix = s.task_mix
        types = ", ".join(f"{t} {n}" for t, n in sorted(mix["types"].items(), key=lambda x: -x[1]))
        console.print(
            f"task types: {types} (entropy {mix['entropy']}); top opening '{mix['top_opening']}' "
            f"{mix['top_opening_share']:.0%}" + (f"; --balance {mix['balance']}" if mix.get("balance") else ""),
            highlight=False,
        )
        if mix["warning"]:
            console.print(f"[yellow]{mix['warning']}[/yellow]", highlight=False)
    gen = s.generation
    console.print(
        f"generation: {gen.generated_tokens} tokens in {round(gen.seconds, 1)} s "
        f"({gen.tokens_per_second} tokens/s, {s.model.precision})",
        highlight=False,
    )
    for i, ex in enumerate(result.examples, 1):
        output = ex["output"] if len(ex["output"]) < 300 else ex["output"][:300] + " ..."
        console.print(
            f"[bold]Example {i}[/bold]\n[cyan]instruction:[/cyan] {ex['instruction']}\n[cyan]output:[/cyan] {output}\n",
            highlight=False,
        )
    console.print(f"Dataset written to [bold]{result.out}[/bold] ({', '.join(s.files)})", highlight=False)


def privacy_summary(s: RunStats) -> list[str]:
    """One line each for cleaning, redaction, threads, languages and decontamination (counts,
    never values), and the server a server backend asked."""
    lines = []
    if s.read.cleaned:
        lines.append("cleaning: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s.read.cleaned.items()))
    red = s.redaction
    if red is not None:
        if red["enabled"]:
            types = ", ".join(f"{k} {v}" for k, v in red["by_type"].items())
            lines.append(
                f"redaction: {red['total']} replacements in {red['documents_redacted']} of "
                f"{red['documents']} documents"
                + (f" ({types})" if types else "")
                + (f"; {red['failed']} documents skipped, redaction failed" if red.get("failed") else "")
            )
        else:
            lines.append("redaction: off (--no-redact)")
    if t := s.threads:
        lines.append(
            f"threads: {t['replies']} replies paired with the message they answer, "
            f"{t['missing_parent']} without their parent; {t['threads']} threads in {t['messages']} messages"
        )
    if s.languages:
        mix = ", ".join(f"{k} {v}" for k, v in s.languages["mix"].items()) or "none"
        kept = s.languages.get("kept")
        lines.append(f"languages: {mix}" + (f" (kept: {', '.join(kept)})" if kept else ""))
    for eval_set in s.decontamination or []:
        lines.append(f"decontaminated against {eval_set['name']} ({eval_set['items']} items)")
    if server := s.model.server:
        ignored = "; ".join(server["ignored"]) or "nothing"
        lines.append(
            f"server: {server['served_model']} at {', '.join(server['servers'])}, prompts as "
            f"{server['prompts']}, {server['retried_requests']} requests retried; it ignored {ignored}"
        )
    return lines


@app.command()
@config_command(MergeConfig, arguments={"out": "OUT"})
def merge(cfg: MergeConfig) -> None:
    """Merge the shard folders of a sharded generate run into one dataset in OUT.

    Example: torchrun --nproc_per_node 2 -m backtranslate.cli generate --out ds && backtranslate merge ds
    """
    from pathlib import Path

    from .generate import GenerateResult
    from .merge import merge as run_merge

    out, push_to_hub, hub_private = cfg.out, cfg.push_to_hub, cfg.hub_private
    with user_errors():
        check_hub_name(push_to_hub)
        stats, examples = run_merge(out, [Path(s) for s in cfg.shard_dir] if cfg.shard_dir else None)
    print_generate_summary(GenerateResult(out=Path(out), stats=stats, examples=examples))
    if push_to_hub:
        push_folder(out, push_to_hub, hub_private)


@app.command("eval")
@config_command(EvalConfig)
def eval_command(cfg: EvalConfig) -> None:
    """Measure how well the backward model recovers human instructions: ROUGE-L and embedding
    cosine against the held-out instruction, side by side with zero-shot reverse prompting.

    Example: backtranslate eval --model runs/demo/backward --heldout ../shared/data/self-instruct-seed-tasks.jsonl
    """
    from pathlib import Path

    from .evaluate import evaluate, write_report
    from .inference import Decoding, options_from

    decoding = Decoding.of(cfg)
    with user_errors():
        result = evaluate(
            cfg.model,
            cfg.heldout,
            fields=cfg.fields,
            baseline=None if cfg.baseline == "none" else cfg.baseline,
            limit=cfg.limit,
            precision=cfg.precision,
            decoding=decoding,
            max_response_tokens=cfg.max_response_tokens,
            backend=cfg.backend,
            backend_options=options_from(cfg.backend, cfg),
        )
        target = cfg.report or str(Path(cfg.model) / "eval.json" if Path(cfg.model).is_dir() else "eval.json")
        write_report(result, target)
    table = Table(title=f"eval on {result['heldout']['pairs']} held-out pairs")
    for col in ("model", "ROUGE-L", "cosine"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for key, name in (("model", result["model"]), ("baseline", result.get("baseline_model"))):
        m = (result["metrics"] or {}).get(key)
        if m:
            table.add_row(f"{name} ({key})", f"{m['rouge_l']:.4f}", f"{m['cosine']:.4f}")
    console.print(table)
    if result.get("ratio"):
        console.print(f"trained / zero-shot: ROUGE-L {result['ratio']['rouge_l']}, cosine {result['ratio']['cosine']}")
    for ex in result["examples"][:3]:
        console.print(
            f"[cyan]human:[/cyan] {ex['human']}\n[cyan]model:[/cyan] {ex['model']}"
            + (f"\n[cyan]baseline:[/cyan] {ex['baseline']}" if ex.get("baseline") is not None else "")
            + "\n",
            highlight=False,
        )
    console.print(f"Report written to {target}", highlight=False)


@app.command()
@config_command(CurateConfig, arguments={"dataset": "DATASET"})
def curate(cfg: CurateConfig) -> None:
    """Self-curation: score every pair and keep those at or above --threshold or in the best --top-fraction (all, if neither is given).

    Example: backtranslate curate runs/demo/dataset --scorer rubric --threshold 4
    """
    from .curate import curate_dataset
    from .inference import options_from

    target = cfg.out or beside(cfg.dataset, "curated")
    push_to_hub, hub_private = cfg.push_to_hub, cfg.hub_private
    with user_errors():
        check_hub_name(push_to_hub)
        stats = curate_dataset(
            cfg.dataset,
            target,
            cfg.scorer,
            cfg.model,
            cfg.threshold,
            cfg.top_fraction,
            formats=_names(cfg.format),
            precision=cfg.precision,
            backend=cfg.backend,
            backend_options=options_from(cfg.backend, cfg),
        )
    table = Table(title="curate summary", show_header=False)
    for key in ("scorer", "threshold", "top_fraction", "cutoff", "pairs", "kept", "rejected", "unparsed", "mean_score"):
        table.add_row(key, str(stats[key]))
    table.add_row("output", target)
    console.print(table)
    if push_to_hub:
        push_folder(target, push_to_hub, hub_private)


@app.command()
@config_command(IterateConfig, arguments={"dataset": "CANDIDATES"})
def iterate(cfg: IterateConfig) -> None:
    """Humpback's loop: curate the candidates with the current forward model, fine-tune the next
    forward model on seed + the best-scored pairs, curate again; one folder per round.

    Example: backtranslate iterate runs/demo/dataset --rounds 1 --top-fraction 0.5 --output-dir runs/iterate
    """
    from .iterate import iterate as run_iterate

    summary = run_iterate(cfg, on_step=lambda message: console.rule(message, align="left"))
    table = Table(title="iterate summary (round K is scored by model K-1)")
    for col in ("round", "kept/pairs", "mean score", "cutoff", "seed+kept", "loss", "seconds"):
        table.add_column(col, justify="left" if col == "round" else "right")
    for r in summary["rounds"]:
        c, scores, training = r["counts"], r.get("scores") or {}, r["training"]
        table.add_row(
            str(r["round"]),
            f"{c['kept']}/{c['candidates']}" if "kept" in c else "-",
            _num(scores.get("mean")),
            _num(scores.get("cutoff")),
            f"{c['train_pairs']['seed']}+{c['train_pairs']['generated']}",
            _num(training["train_loss"]),
            f"{r['seconds']['curate'] + r['seconds']['finetune']:.0f}",
        )
    f = summary["final"]
    table.add_row(
        "final",
        f"{f['kept']}/{f['kept'] + f['rejected']}",
        _num(f["mean_score"]),
        _num(f["cutoff"]),
        "-",
        "-",
        f"{f['seconds']:.0f}",
    )
    console.print(table)
    console.print(
        f"Curated dataset: [bold]{f['dataset']}[/bold]; each round's inputs and counts are in "
        f"{cfg.output_dir}/round-K/round.json and {cfg.output_dir}/iterate.json",
        highlight=False,
    )


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command()
@config_command(ReportConfig, arguments={"dataset": "DATASET"})
def report(cfg: ReportConfig) -> None:
    """Write an HTML report with charts: lengths, kept/dropped by reason, scores, instruction
    openings, near-duplicate clusters and sample pairs.

    Example: backtranslate report runs/demo/dataset && open runs/demo/dataset/report/index.html
    """
    from .report import report as run_report

    dataset = cfg.dataset
    with user_errors():
        page, s = run_report(dataset, cfg.out or beside(dataset, "report"), cfg.threshold, cfg.samples)
    table = Table(title=f"report: {dataset}", show_header=False)
    lengths = s["lengths"]
    table.add_row("pairs kept", str(s["pairs"]))
    table.add_row("dropped (all stages)", str(s["rejected"]))
    for d in s["dropped"][:5]:
        table.add_row(f"  {d['stage']}: {d['reason']}", str(d["count"]))
    for key, label in (("instruction_words", "instruction words"), ("output_words", "output words")):
        if lengths[key]["count"]:
            table.add_row(f"{label} (median / max)", f"{lengths[key]['median']:g} / {lengths[key]['max']}")
    for name, kinds in s["scores"].items():
        kept = kinds["kept"]
        if kept["count"]:
            table.add_row(f"{name} score of kept (median)", f"{kept['median']:g}")
    table.add_row("top openings", ", ".join(f"{w} {n}" for w, n in s["openings"][:6]) or "-")
    nd = s["near_duplicates"]
    table.add_row(
        "near-duplicate clusters (instructions / outputs)",
        f"{nd['instruction']['clusters']} / {nd['output']['clusters']}",
    )
    table.add_row("report", str(page))
    console.print(table)


@app.command()
@config_command(DedupConfig, arguments={"dataset": "DATASET"})
def dedup(cfg: DedupConfig) -> None:
    """Drop exact and near-duplicate pairs (MinHash LSH over instructions and outputs), keeping the first of each group.

    Example: backtranslate dedup runs/demo/dataset --fields instruction,output --threshold 0.8
    """
    from .dedup import dedup_dataset

    target = cfg.out or beside(cfg.dataset, "dedup")
    push_to_hub, hub_private = cfg.push_to_hub, cfg.hub_private
    with user_errors():
        check_hub_name(push_to_hub)
        stats = dedup_dataset(cfg.dataset, target, _names(cfg.fields), cfg.threshold, formats=_names(cfg.format))
    table = Table(title="dedup summary", show_header=False)
    table.add_row("pairs", str(stats["pairs"]))
    table.add_row("kept", str(stats["kept"]))
    for name, n in stats["dropped"].items():
        table.add_row(f"dropped: {name}", str(n))
    table.add_row("time", f"{stats['seconds']} s")
    table.add_row("output", target)
    console.print(table)
    if push_to_hub:
        push_folder(target, push_to_hub, hub_private)


@app.command()
@config_command(ConvertConfig, arguments={"source": "SOURCE"})
def convert(cfg: ConvertConfig) -> None:
    """Turn a classic labelled dataset (text, label) or an extraction set into Alpaca records:
    your instruction, the text as input, the label (or the phrases) as output.

    Example: backtranslate convert reviews.csv --instruction "Classify the review as Complaint or Non-Complaint." --out runs/complaints
    """
    from .convert import ConvertSpec, parse_label_names
    from .convert import convert as run_convert

    out, push_to_hub, hub_private = cfg.out, cfg.push_to_hub, cfg.hub_private
    with user_errors():
        check_hub_name(push_to_hub)
        spec = ConvertSpec(
            instruction=cfg.instruction,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            tags_column=cfg.tags_column,
            label_names=parse_label_names(cfg.label_names),
            separator=cfg.separator,
            empty_output=cfg.empty,
            entity=cfg.entity,
        )
        stats = run_convert(
            cfg.source,
            out,
            spec,
            license=cfg.license,
            language=cfg.language,
            limit=cfg.limit,
            formats=_names(cfg.format),
        )
    table = Table(title="convert summary", show_header=False)
    table.add_row("kind", stats["kind"])
    table.add_row("rows", str(stats["rows"]))
    table.add_row("records", str(stats["kept"]))
    for reason, n in stats["skipped"].items():
        table.add_row(f"skipped: {reason}", str(n))
    if stats["labels"]:
        table.add_row("labels", ", ".join(f"{k} {v}" for k, v in list(stats["labels"].items())[:8]))
    table.add_row("output", out)
    console.print(table)
    if push_to_hub:
        push_folder(out, push_to_hub, hub_private)


@app.command()
@config_command(CheckConfig)
def check(cfg: CheckConfig) -> None:
    """Check that the model loads and answers on its backend (a server: reachable, the API key
    accepted, the model or adapter served) and preview the instruction it writes. Writes nothing.

    Example: backtranslate check --backend openai --base-url http://127.0.0.1:8000/v1 --model runs/demo/backward --lora-name backward
    """
    from .check import check as run_check

    with user_errors():
        r = run_check(cfg)
    table = Table(title=f"check: {r.backend} backend", show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows = [
        ("model", r.model if r.model == r.base else f"{r.model} (base {r.base})"),
        ("template", r.template),
        ("precision", r.precision),
    ]
    if r.server:
        rows += [
            ("servers", ", ".join(r.server["servers"])),
            ("served model", r.server["served_model"]),
            ("prompts sent as", r.server["prompts"]),
        ]
    rows += [
        ("load", f"{r.load_seconds:.1f} s"),
        ("one generation", f"{r.generate_seconds:.1f} s, {r.generated_tokens} tokens ({r.finish})"),
        ("passage", r.passage),
        ("instruction", r.instruction or "(empty)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print("OK: the model answers.", highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # The server backend's HTTP client logs every request and retry at INFO: thousands of lines a
    # run. Retries are counted in stats.json instead; failures end the run with one sentence.
    for name in ("httpx", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Deprecation notices that libraries raise about their own internals say nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)\.")
    app()


if __name__ == "__main__":
    main()

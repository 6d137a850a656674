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
from typing import Any, Callable, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import FinetuneConfig, GenerateConfig, TrainConfig, field_help, field_types, resolve, section_of, to_dict
from .errors import UserError

app = typer.Typer(
    help="Turn raw text into instruction-tuning data by instruction backtranslation.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line in logs and CI


def _option(name: str, tp: Any, help: str, default: Any) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    base = next((a for a in getattr(tp, "__args__", ()) if a is not type(None)), tp)
    decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag]
    shown = "" if default is None else f" [default: {default}]"
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[base],
        default=typer.Option(None, *decls, help=help + shown, show_default=False),
    )


def _argument(name: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[str],
                             default=typer.Argument(None, metavar=name.upper(), help=help, show_default=False))


def config_command(cls: type, arguments: tuple[str, ...] = ()) -> Callable:
    """Give a command one flag per field of ``cls`` plus --config and --dry-run; the wrapped
    function receives the resolved config. Fields named in ``arguments`` are positional
    arguments instead (optional, so a YAML preset can set them too)."""

    def decorate(fn: Callable[[Any], None]) -> Callable:
        helps, types_ = field_help(cls), field_types(cls)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        params = [_argument(n, helps[n]) for n in arguments] + [
            inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                              default=typer.Option(None, "--config", "-c", help="YAML preset (see configs/); flags override it.")),
            inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                              default=typer.Option(False, "--dry-run", help="Print the resolved config as YAML and exit.")),
        ] + [_option(n, types_[n], helps[n], defaults[n]) for n in helps if n not in arguments]

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
@config_command(FinetuneConfig, arguments=("dataset",))
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
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .generate import generate as run_generate

    # The stages stream into each other, so each gets its own running count rather than a total.
    with Progress(SpinnerColumn(), TextColumn("{task.description:<22}"), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        tasks = {key: progress.add_task(label, total=None) for key, label in (
            ("documents", "read documents"), ("segmented", "cut passages"),
            ("passages", "passages to the model"), ("candidates", "candidate instructions"),
            ("kept", "pairs kept"))}
        if cfg.max_passages:
            progress.update(tasks["passages"], total=cfg.max_passages)

        def show(counts: dict) -> None:
            for key, task in tasks.items():
                progress.update(task, completed=counts[key])

        result = run_generate(cfg, on_progress=show)
    print_generate_summary(result)


def print_generate_summary(result) -> None:
    s = result.stats
    table = Table(title="generate summary")
    for col, justify in (("stage", "left"), ("in", "right"), ("kept", "right"), ("dropped", "right")):
        table.add_column(col, justify=justify)
    read_skipped = sum(s["read"]["skipped"].values())
    # Reading turns files into documents (an mbox or a JSONL file holds many); skips count both
    # whole files and single rows or messages.
    table.add_row("read (files -> documents)", str(s["read"]["files"]), str(s["read"]["documents"]), str(read_skipped))
    p, q = s["passages"], s["pairs"]
    table.add_row("passages", str(p["segmented"]), str(p["kept"]), str(sum(p["dropped"].values())))
    table.add_row("pairs", str(q["candidates"]), str(q["kept"]), str(q["rejected"]))
    console.print(table)
    reasons = [("read", k, v) for k, v in s["read"]["skipped"].items()]
    reasons += [("passage", k, v) for k, v in p["dropped"].items()]
    reasons += [("pair", k, v) for k, v in q["dropped"].items()]
    if reasons:
        why = Table(title="dropped by reason (see rejected.jsonl)")
        for col in ("stage", "reason", "count"):
            why.add_column(col, justify="right" if col == "count" else "left")
        for stage, reason, n in reasons:
            why.add_row(stage, reason, str(n))
        console.print(why)
    gen = s["generation"]
    console.print(f"generation: {gen['generated_tokens']} tokens in {gen['seconds']} s "
                  f"({gen['tokens_per_second']} tokens/s, {s['model']['precision']})", highlight=False)
    for i, ex in enumerate(result.examples, 1):
        output = ex["output"] if len(ex["output"]) < 300 else ex["output"][:300] + " ..."
        console.print(f"[bold]Example {i}[/bold]\n[cyan]instruction:[/cyan] {ex['instruction']}\n"
                      f"[cyan]output:[/cyan] {output}\n", highlight=False)
    console.print(f"Dataset written to [bold]{result.out}[/bold] ({', '.join(s['files'])})", highlight=False)


@app.command()
def merge(out: str = typer.Argument(..., help="The --out of a sharded generate run (holds shard-I-of-N folders)."),
          shards: Optional[list[str]] = typer.Option(None, "--shard-dir", help="Shard folders, if not under OUT.")) -> None:
    """Merge the shard folders of a sharded generate run into one dataset in OUT.

    Example: torchrun --nproc_per_node 2 -m backtranslate.cli generate --out ds && backtranslate merge ds
    """
    from pathlib import Path

    from .generate import GenerateResult
    from .merge import merge as run_merge

    with user_errors():
        stats, examples = run_merge(out, [Path(s) for s in shards] if shards else None)
    print_generate_summary(GenerateResult(out=Path(out), stats=stats, examples=examples))


@app.command("eval")
def eval_command(
    model: str = typer.Option(..., "--model", help="A folder written by `train` (compared with its base, zero-shot), or any model."),
    heldout: str = typer.Option(..., "--heldout", help="Held-out (instruction, response) pairs in any seed layout."),
    fields: Optional[str] = typer.Option(None, "--fields", help="Map columns by hand, as for --seed."),
    baseline: str = typer.Option("auto", "--baseline", help="'auto' (the trained model's base, zero-shot), 'none', or a model."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N pairs."),
    report: Optional[str] = typer.Option(None, "--report", help="Where the JSON report goes [default: MODEL/eval.json or eval.json]."),
    precision: str = typer.Option("auto", "--precision", help="auto, bf16, fp16 or fp32."),
) -> None:
    """Measure how well the backward model recovers human instructions: ROUGE-L and embedding
    cosine against the held-out instruction, side by side with zero-shot reverse prompting.

    Example: backtranslate eval --model runs/demo/backward --heldout ../shared/data/self-instruct-seed-tasks.jsonl
    """
    from pathlib import Path

    from .evaluate import evaluate, write_report

    with user_errors():
        result = evaluate(model, heldout, fields=fields, baseline=None if baseline == "none" else baseline,
                          limit=limit, precision=precision)
        target = report or str(Path(model) / "eval.json" if Path(model).is_dir() else "eval.json")
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
        console.print(f"[cyan]human:[/cyan] {ex['human']}\n[cyan]model:[/cyan] {ex['model']}"
                      + (f"\n[cyan]baseline:[/cyan] {ex['baseline']}" if ex.get("baseline") is not None else "") + "\n",
                      highlight=False)
    console.print(f"Report written to {target}", highlight=False)


@app.command()
def curate(dataset: str = typer.Argument(..., help="A generate output folder, or a JSON/JSONL/CSV/Parquet file of pairs."),
           out: Optional[str] = typer.Option(None, "--out", help="Where the curated dataset goes [default: DATASET/curated]."),
           scorer: str = typer.Option("likelihood", "--scorer", help="likelihood (instruction-following gain) or rubric (Humpback's 1-5 rating)."),
           model: str = typer.Option("default", "--model", "--judge", help="Forward model (likelihood) or judge (rubric)."),
           threshold: Optional[float] = typer.Option(None, "--threshold", help="Keep pairs scoring at least this (rubric: 1-5; likelihood: nats/token, e.g. 0)."),
           ) -> None:
    """Self-curation: score every pair and keep those at or above --threshold (all, if none is given).

    Example: backtranslate curate runs/demo/dataset --scorer rubric --threshold 4
    """
    from pathlib import Path

    from .curate import curate_dataset

    target = out or str(Path(dataset) / "curated")
    with user_errors():
        stats = curate_dataset(dataset, target, scorer, model, threshold)
    table = Table(title="curate summary", show_header=False)
    for key in ("scorer", "threshold", "pairs", "kept", "rejected", "unparsed", "mean_score"):
        table.add_row(key, str(stats[key]))
    table.add_row("output", target)
    console.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # Deprecation notices that libraries raise about their own internals say nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)\.")
    app()


if __name__ == "__main__":
    main()

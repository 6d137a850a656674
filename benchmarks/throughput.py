"""Generation throughput of the backward model, all engines on the same prompts in one run: the
seed blog's loop (one `generate` call per prompt, fp32, LoRA unmerged), our transformers backend,
transformers' own `generate` in the same token-budget batches, our vLLM backend and plain vLLM
with the same LoRA adapter. Greedy decoding, so the instructions can be compared across engines.

    .venv/bin/python benchmarks/throughput.py --model runs/demo/backward --vllm-python .venv-vllm/bin/python

The server-cN rows start `vllm serve` (from --vllm-python) on 127.0.0.1 with the same merged
weights as the "vllm" row and run our server backend (--backend openai) against it with N
requests in flight, so the difference to the "vllm" row is what HTTP costs.

Each row runs in its own process, with the interpreter that has its engine (vLLM rows need
.venv-vllm; without --vllm-python they are left out). Every row first warms up on other passages
(kernel selection, vLLM's first-shape overheads), then is timed on the measured ones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ("emails", "docs", "web")
GFLOP_PER_TOKEN = 0.27  # SmolLM2-135M: 2 FLOPs per parameter per token
ROWS = {  # name: (label, precision, needs vLLM)
    "seed-loop": ("seed blog loop: one generate per prompt", "fp32", False),
    "transformers-fp32": ("transformers backend (ours)", "fp32", False),
    "transformers": ("transformers backend (ours)", "bf16", False),
    "transformers-int8": ("transformers backend (ours), int8 linear layers", "int8", False),
    "hf-generate": ("model.generate, same token-budget batches", "bf16", False),
    "vllm": ("vLLM backend (ours), adapter merged", "bf16", True),
    "vllm-request": ("vLLM backend (ours), LoRA request", "bf16", True),
    "raw-vllm": ("raw vLLM: LLM.generate + LoRARequest", "bf16", True),
}
# The server backend (--backend openai) against `vllm serve` of the same merged weights (bf16), at
# a few concurrency levels: the HTTP overhead is the difference to the in-process "vllm" row.
for _c in (1, 4, 16, 64):
    ROWS[f"server-c{_c}"] = (f"vllm serve over HTTP (ours), concurrency {_c}", "bf16", False)
SERVED_NAME = "backward-merged"


def passages(model: str, count: int, warmup: int) -> tuple[list, list]:
    """The corpora's passages as `generate` cuts and filters them: (measured, warm-up)."""
    from backtranslate.filters import FilterStats, apply_filters, default_passage_filters
    from backtranslate.inference import BackwardSpec
    from backtranslate.models import load_tokenizer
    from backtranslate.passages import TokenMeter, segment_all
    from backtranslate.readers.corpus import read_corpus

    meter = TokenMeter(load_tokenizer(BackwardSpec.resolve(model).base))
    found = []
    for name in CORPORA:
        cut = segment_all(read_corpus(str(ROOT / "corpora" / name)), meter, 24, 384)
        found.extend(apply_filters(cut, default_passage_filters(), FilterStats()))
    if len(found) < count + warmup:
        raise SystemExit(f"only {len(found)} passages in corpora/; ask for fewer")
    return found[:count], found[count : count + warmup]


def run_row(
    name: str,
    model: str,
    count: int,
    warmup: int,
    max_new_tokens: int,
    batch_size: int,
    batch_tokens: int,
    base_url: str | None = None,
) -> dict:
    """Warm up, then time one engine on the measured passages (in this process)."""
    from backtranslate.inference import BackwardSpec, Decoding

    measured, warm = passages(model, count, warmup)
    spec = BackwardSpec.resolve(model)
    precision = ROWS[name][1]
    decoding = Decoding(greedy=True, max_new_tokens=max_new_tokens, batch_size=batch_size, batch_tokens=batch_tokens)
    started = time.perf_counter()
    engine = None
    if name == "seed-loop":
        write = seed_loop(spec, max_new_tokens)
    elif name == "raw-vllm":
        write = raw_vllm(spec, max_new_tokens)
    elif name.startswith("server-"):
        from backtranslate.inference import BackwardModel

        concurrency = int(name.removeprefix("server-c"))
        engine = BackwardModel(
            model, backend="openai", base_url=base_url, served_model=SERVED_NAME, concurrency=concurrency
        )

        def write(batch):
            out = list(engine.generate(batch, decoding))
            return [c.instruction for c in out], sum(c.meta["generated_tokens"] for c in out)

    else:
        from backtranslate.inference import BackwardModel

        engine = (
            BackwardModel(
                model, precision=precision, backend="vllm", vllm_lora="request" if name == "vllm-request" else "merged"
            )
            if name.startswith("vllm")
            else BackwardModel(model, precision=precision, loop="generate" if name == "hf-generate" else "decoder")
        )

        def write(batch):
            out = list(engine.generate(batch, decoding))
            return [c.instruction for c in out], sum(c.meta["generated_tokens"] for c in out)

    load = time.perf_counter() - started
    write(warm)
    decoder = getattr(getattr(engine, "engine", None), "_decoder", None)
    if decoder is not None:
        decoder.stats.clear()  # the measured passages only
    started = time.perf_counter()
    instructions, tokens = write(measured)
    return {
        "name": name,
        "tokens": tokens,
        "seconds": time.perf_counter() - started,
        "load_s": load,
        "instructions": instructions,
        "decoder": dict(decoder.stats) if decoder is not None else None,
    }


def seed_loop(spec, max_new_tokens: int):
    """The seed blog's loop, written as it was: the adapter on top of the fp32 base (not merged),
    each prompt tokenized and generated alone, the prompt cut off the decoded output."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from backtranslate import models

    location = models.resolve(spec.base)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32)
    if spec.adapter:
        model = PeftModel.from_pretrained(model, str(spec.adapter))
    device = "cuda" if torch.cuda.is_available() else "cpu"  # on a GPU machine the loop runs there
    model.to(device).eval()

    def write(batch):
        instructions, tokens = [], 0
        for passage in batch:
            prompt = spec.template.prompt(passage)
            input_ids = tokenizer(prompt, return_tensors="pt", truncation=True).input_ids.to(device)
            with torch.no_grad():
                outputs = model.generate(
                    input_ids=input_ids,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.eos_token_id,
                )
            tokens += outputs.shape[1] - input_ids.shape[1]
            text = tokenizer.batch_decode(outputs.detach().cpu().numpy(), skip_special_tokens=True)[0]
            instructions.append(spec.template.parse(text[len(prompt) :]))
        return instructions, tokens

    return write


def raw_vllm(spec, max_new_tokens: int):
    """vLLM as its documentation shows it: text prompts, the adapter as a LoRA request, and the
    engine settings our backend uses on this machine (KV cache size, context length)."""
    import json as json_

    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from backtranslate import models
    from backtranslate.inference.vllm_backend import CPU_KV_CACHE_GB, MAX_MODEL_LEN

    rank = json_.loads((spec.adapter / "adapter_config.json").read_text())["r"]
    llm = LLM(
        model=models.resolve(spec.base),
        dtype="bfloat16",
        enable_lora=True,
        max_lora_rank=max(8, rank),
        max_model_len=MAX_MODEL_LEN,
        kv_cache_memory_bytes=int(CPU_KV_CACHE_GB * 2**30),
    )
    params = SamplingParams(temperature=0, max_tokens=max_new_tokens, stop=["###"])
    lora = LoRARequest("backward", 1, str(spec.adapter))

    def write(batch):
        outputs = llm.generate([spec.template.prompt(p) for p in batch], params, lora_request=lora, use_tqdm=False)
        return (
            [spec.template.parse(o.outputs[0].text) for o in outputs],
            sum(len(o.outputs[0].token_ids) for o in outputs),
        )

    return write


class VllmServer:
    """`vllm serve` (the OpenAI-compatible server of the --vllm-python install) on 127.0.0.1 with
    the model's adapter merged into bf16 weights, as the in-process "vllm" row runs it."""

    def __init__(self, python: str, model: str, log: Path) -> None:
        import socket
        import urllib.request

        import torch

        from backtranslate import models
        from backtranslate.inference import BackwardSpec
        from backtranslate.inference.vllm_backend import CPU_KV_CACHE_GB, MAX_MODEL_LEN

        spec = BackwardSpec.resolve(model)
        location = models.resolve(spec.base)
        if spec.adapter:
            location = str(models.merged_folder(spec.base, spec.adapter, torch.bfloat16))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", location]
        command += ["--served-model-name", SERVED_NAME, "--dtype", "bfloat16", "--max-model-len", str(MAX_MODEL_LEN)]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        env = {**__import__("os").environ, "VLLM_CPU_KVCACHE_SPACE": str(int(CPU_KV_CACHE_GB))}
        self.process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 600
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"vllm serve did not start; see {log}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=5):
                    return
            except OSError:
                time.sleep(1)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/backward", help="a `train` folder (or a base model)")
    parser.add_argument("--passages", type=int, default=48)
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batch-tokens", type=int, default=32768)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--vllm-python", help="interpreter with vLLM (e.g. .venv-vllm/bin/python)")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = [args.model, args.passages, args.warmup, args.max_new_tokens, args.batch_size, args.batch_tokens]
    if args.row:  # a child: vLLM writes to stdout too, so the result goes to a file
        Path(args.result).write_text(json.dumps(run_row(args.row, *shape, base_url=args.base_url)))
        return

    results = []
    server = None
    for name in args.rows:
        python = args.vllm_python if ROWS[name][2] else sys.executable
        if not python or (name.startswith("server-") and not args.vllm_python):
            print(f"skipping {name}: needs --vllm-python", file=sys.stderr)
            continue
        if name.startswith("server-"):
            # A fresh server per row: vLLM's prefix cache would otherwise still hold the measured
            # prompts from the row before, and the later rows would skip most of their prefill.
            if server is not None:
                server.close()
            print("starting vllm serve ...", file=sys.stderr, flush=True)
            server = VllmServer(args.vllm_python, args.model, Path(tempfile.mkdtemp()) / "vllm-serve.log")
        result = Path(tempfile.mkdtemp()) / "result.json"
        command = [
            python,
            __file__,
            "--row",
            name,
            "--result",
            str(result),
            "--model",
            args.model,
            "--passages",
            str(args.passages),
            "--warmup",
            str(args.warmup),
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--batch-size",
            str(args.batch_size),
            "--batch-tokens",
            str(args.batch_tokens),
        ]
        if name.startswith("server-"):
            command += ["--base-url", server.url]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{name} failed")
        results.append(json.loads(result.read_text()))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    if server is not None:
        server.close()
    print_table(results, args)


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    by_name = {r["name"]: r for r in results}
    base = by_name.get("seed-loop")
    table = Table(
        title=f"generation: {args.model}, {args.passages} passages, greedy, max {args.max_new_tokens} new tokens"
    )
    for col in (
        "engine",
        "precision",
        "load s",
        "tokens",
        "seconds",
        "tokens/s",
        "vs seed loop",
        "same instruction as seed loop",
    ):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for r in results:
        label, precision, _ = ROWS[r["name"]]
        rate = r["tokens"] / r["seconds"]
        same = (
            f"{sum(a == b for a, b in zip(r['instructions'], base['instructions']))}/{len(base['instructions'])}"
            if base
            else "-"
        )
        ratio = f"{rate / (base['tokens'] / base['seconds']):.2f}x" if base else "-"
        table.add_row(
            label, precision, f"{r['load_s']:.1f}", str(r["tokens"]), f"{r['seconds']:.1f}", f"{rate:.1f}", ratio, same
        )
    Console(width=150).print(table)
    ours = by_name.get("transformers")
    if ours and ours.get("decoder"):
        # Where the time goes, against the hardware: a 135M model costs ~0.27 GFLOP per token
        # (2 x parameters), whether the token is read in prefill or written in decoding.
        d = ours["decoder"]
        work = GFLOP_PER_TOKEN * (d["prompt_tokens"] + d["row_steps"])
        print(
            f"transformers backend (bf16): prefill {d['prefill_s']:.1f} s for {d['prompt_tokens']} prompt tokens "
            f"({d['prompt_tokens'] / d['prefill_s']:.0f} tokens/s), decoding {d['decode_s']:.1f} s for "
            f"{d['steps']} steps of {d['row_steps'] / max(d['steps'], 1):.1f} rows on average; "
            f"{work / ours['seconds']:.0f} GFLOP/s sustained"
        )
    if "vllm" in by_name and any(n.startswith("server-") for n in by_name):
        inproc = by_name["vllm"]["tokens"] / by_name["vllm"]["seconds"]
        for n in [n for n in by_name if n.startswith("server-")]:
            r = by_name[n]
            same = sum(a == b for a, b in zip(r["instructions"], by_name["vllm"]["instructions"]))
            print(
                f"{n}: {r['tokens'] / r['seconds'] / inproc:.2f}x the in-process vLLM backend's tokens/s; "
                f"same instructions {same}/{len(r['instructions'])}"
            )
    if "vllm-request" in by_name and "raw-vllm" in by_name:
        ours, raw = by_name["vllm-request"], by_name["raw-vllm"]
        print(
            f"vLLM backend (LoRA request) / raw vLLM: {(ours['tokens'] / ours['seconds']) / (raw['tokens'] / raw['seconds']):.2f}x "
            f"tokens/s; same instructions: {sum(a == b for a, b in zip(ours['instructions'], raw['instructions']))}"
            f"/{len(raw['instructions'])}"
        )


if __name__ == "__main__":
    main()

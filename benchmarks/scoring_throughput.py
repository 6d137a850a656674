"""Scoring on the transformers backend: the LM head on the scored positions only, against every position.

`TransformersBackend.logprobs` gives log p of each target token (an instruction after its
prompt, a passage after its instruction). The confidence filter and the likelihood scorer call
it for every pair. It used to run the LM head on every position of every row and take a
log-softmax over a [rows, positions, vocabulary] tensor; now the rows are left-padded so the
targets sit at the right end and only those columns get logits (``logits_to_keep``).

    python benchmarks/scoring_throughput.py --model runs/demo/backward --rows 16 --prompt 420 --target 24

Both paths score the same sequences; the script checks they agree before it times them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_corpora import cpu_class  # noqa: E402


def every_position(engine, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
    """The earlier path: right-padded rows, logits for every position, then the targets picked."""
    import torch

    width = max(len(x) for x in sequences)
    pad = engine.tokenizer.pad_token_id
    ids = torch.tensor([x + [pad] * (width - len(x)) for x in sequences], device=engine.device)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in sequences], device=engine.device)
    with torch.inference_mode():
        logits = engine.model(input_ids=ids, attention_mask=mask).logits.float()
    picked = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return [picked[i, start - 1 : len(x) - 1].tolist() for i, (x, start) in enumerate(zip(sequences, starts))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo/backward")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--prompt", type=int, default=420, help="prompt tokens per row (rows vary by +-10%)")
    parser.add_argument("--target", type=int, default=24, help="scored tokens per row")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    from backtranslate.inference import BackwardModel

    model = BackwardModel(args.model, precision=args.precision)
    engine = model.engine
    rng = random.Random(0)
    vocab = len(engine.tokenizer)
    sequences, starts = [], []
    for _ in range(args.rows):
        n = int(args.prompt * rng.uniform(0.9, 1.1))
        sequences.append([rng.randrange(100, vocab) for _ in range(n + args.target)])
        starts.append(n)
    new, old = engine.logprobs(sequences, starts), every_position(engine, sequences, starts)
    worst = max(abs(a - b) for x, y in zip(new, old) for a, b in zip(x, y))
    print(f"largest difference between the two paths: {worst:.4f} nats ({engine.precision})")
    timings = {}
    for name, fn in (("every position", every_position), ("scored positions only", None)):
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            (fn(engine, sequences, starts) if fn else engine.logprobs(sequences, starts))
            best = min(best, time.perf_counter() - started)
        timings[name] = best
    print(f"CPU: {cpu_class()}; {args.rows} rows of ~{args.prompt} + {args.target} tokens, best of {args.repeats}")
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.2f} s ({seconds / args.rows:.3f} s a row)")
    print(f"speedup: {timings['every position'] / timings['scored positions only']:.2f}x")
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

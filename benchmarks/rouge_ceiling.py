"""How far can decoding take a backward model on ROUGE-L? Yardsticks for the quality issue's 2x.

    .venv/bin/python benchmarks/rouge_ceiling.py --model runs/demo/backward \
        --heldout ../shared/data/self-instruct-seed-tasks.jsonl [--pairs 60] [--samples 4]

On the first --pairs held-out tasks it prints one table:
- fixed strings written the same for every task (no model at all): how much of ROUGE-L the
  instructions' shared function words ("a", "the following", "given") earn by themselves;
- zero-shot reverse prompting of the base model, and the trained model, greedy;
- the trained model's greedy instruction plus --samples sampled ones (T 0.7, top-p 0.9), chosen by
  the forward model's likelihood gain (the `likelihood` curation score: which candidate best
  explains the response), by ROUGE-L consensus (MBR), and by an oracle that peeks at the human
  instruction: the ceiling of any selection among those candidates.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from backtranslate.curate import LikelihoodScorer
from backtranslate.evaluate import BASELINE_TEMPLATE, DEFAULT_DECODING, _passages, heldout_pairs
from backtranslate.inference import BackwardModel
from backtranslate.metrics import default_embedder, rouge_l
from backtranslate.models import load_tokenizer, read_manifest
from backtranslate.records import Record

# Two generic task sentences, and one made of the words that open and refer to inputs most often
# in Self-Instruct's instructions ("Generate", "a list of", "the given"): not a model, a yardstick.
FIXED = (
    "Write a short paragraph about the following topic.",
    "Answer the following question.",
    "Generate a list of the given",
)


def candidates(model: str, passages: list[Record], samples: int, template: str | None = None) -> dict[str, list[str]]:
    """Greedy first, then the sampled candidates, per passage id."""
    backward = BackwardModel(model, template=template)
    out: dict[str, list[str]] = {p.id: [] for p in passages}
    for c in backward.generate(passages, DEFAULT_DECODING):
        out[c.meta["passage_id"]].append(c.instruction)
    if samples:
        sampling = replace(DEFAULT_DECODING, greedy=False, temperature=0.7, top_p=0.9, num_candidates=samples)
        for c in backward.generate(passages, sampling):
            out[c.meta["passage_id"]].append(c.instruction)
    backward.close()
    return out


def mbr(options: list[str]) -> str:
    return max(options, key=lambda c: sum(rouge_l(c, o) for o in options if o is not c))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/backward")
    parser.add_argument("--heldout", required=True)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--samples", type=int, default=4)
    args = parser.parse_args()

    _, pairs = heldout_pairs(args.heldout, limit=args.pairs)
    refs = [p.instruction for p in pairs]
    base = read_manifest(args.model)["base_model"]
    passages = _passages(pairs, load_tokenizer(base), 512)
    started = time.perf_counter()
    trained = candidates(args.model, passages, args.samples)
    zero_shot = candidates(base, passages, 0, template=BASELINE_TEMPLATE)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    scorer = LikelihoodScorer(base, max_tokens=128)
    gains: dict[str, list[float]] = {}
    flat = [
        Record(output=p.output, input=p.input, instruction=c or "-", id=f"{p.id}/{i}")
        for p in passages
        for i, c in enumerate(trained[p.id])
    ]
    for scored in scorer.score(flat):
        gains.setdefault(scored.record.id.rsplit("/", 1)[0], []).append(scored.score)
    score_s = time.perf_counter() - started

    rows: list[tuple[str, list[str]]] = [(f'fixed string "{s}"', [s] * len(pairs)) for s in FIXED]
    rows += [
        ("zero-shot base model, greedy", [zero_shot[p.id][0] for p in passages]),
        ("trained model, greedy", [trained[p.id][0] for p in passages]),
        (
            f"greedy + {args.samples} samples, best likelihood gain",
            [max(zip(gains[p.id], trained[p.id]))[1] for p in passages],
        ),
        (f"greedy + {args.samples} samples, MBR (ROUGE-L consensus)", [mbr(trained[p.id]) for p in passages]),
        (
            f"greedy + {args.samples} samples, oracle (peeks at the human one)",
            [max(trained[p.id], key=lambda c, r=r: rouge_l(c, r)) for p, r in zip(passages, refs)],
        ),
    ]
    embedder = default_embedder()
    zero = sum(rouge_l(c, r) for c, r in zip(rows[len(FIXED)][1], refs)) / len(refs)
    table = Table(title=f"ROUGE-L yardsticks: {args.model} on {len(pairs)} tasks of {args.heldout}")
    for col in ("instructions", "ROUGE-L", "vs zero-shot", "cosine"):
        table.add_column(col, justify="left" if col == "instructions" else "right")
    for name, preds in rows:
        rouge = sum(rouge_l(c, r) for c, r in zip(preds, refs)) / len(refs)
        cosine = sum(embedder.cosine(preds, refs)) / len(refs)
        table.add_row(name, f"{rouge:.4f}", f"{rouge / zero:.2f}x", f"{cosine:.4f}")
    console = Console()
    console.print(table)
    console.print(f"generation {generate_s:.0f} s, likelihood scoring of {len(flat)} candidates {score_s:.0f} s")


if __name__ == "__main__":
    main()

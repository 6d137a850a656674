"""Config dataclasses, one per command, and the YAML presets under configs/ that mirror them.

Precedence: dataclass defaults < YAML preset (``--config``) < command-line flags. A YAML file is a
mapping of command names (``train:``, ...) to that command's fields; unknown sections or keys are
an error, and every problem is reported in one message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import UserError
from .formats import FORMATS
from .hardware import INFERENCE_PRECISIONS, PRECISIONS
from .inference import backend_option_classes, option_problems
from .templates import DEFAULT_TEMPLATE

EMAIL_MODES = ("auto", "thread", "message")  # threads.py pairs replies in auto and thread
# One greedy candidate: best of 4 sampled kept more passages on real corpora, but the blind read
# found its instructions far worse (corpora/emails: 3 of 30 usable vs 13 of 29; RESULTS.md).
DEFAULT_CANDIDATES = 1


def curate_scorers() -> tuple[str, ...]:
    """The names curate's scorer registry holds (read there, not retyped here)."""
    from .curate import SCORERS

    return tuple(SCORERS)


def opt(default: Any, help: str, aliases: tuple[str, ...] = ()) -> Any:
    """A config field whose help text is shown by ``--help`` and in the YAML presets; ``aliases``
    are more flags for it (``--judge`` for curate's ``--model``)."""
    return field(default=default, metadata={"help": help, "aliases": aliases})


@dataclass
class TrainConfig:
    """Fine-tune the backward (reverse-instruction) model with LoRA."""

    model: str = opt(
        "default",
        "Base model: a Hugging Face id, a local folder, a .gguf file, or "
        "'default' (the embedded SmolLM2-135M-Instruct).",
    )
    seed: str = opt(
        "default",
        "Seed pairs: 'default' (shipped with the package), a JSON/JSONL/CSV/"
        "Parquet file, a saved dataset folder, or a Hugging Face dataset name.",
    )
    fields: Optional[str] = opt(
        None, "Map seed columns by hand, e.g. 'instruction=question,output=answer,input=context'."
    )
    template: str = opt(
        DEFAULT_TEMPLATE, "Prompt template: reverse, chat, reverse-titled or chat-titled (see templates.py)."
    )
    output_dir: str = opt("runs/backward", "Where the adapter, tokenizer and backtranslate.json are written.")
    lora_r: int = opt(16, "LoRA rank.")
    lora_alpha: int = opt(32, "LoRA scaling numerator (alpha / r scales the update).")
    # 0: on CPUs the dropout masks (aten::bernoulli_) took 30% of a training step, and one
    # epoch on a small seed needs no such regulariser (benchmarks/train_throughput.py).
    lora_dropout: float = opt(0.0, "Dropout on the LoRA branch (0: none; it costs 30% of a CPU step).")
    lora_target_modules: str = opt(
        "all-linear", "Modules to adapt: 'all-linear' or a comma list such as 'q_proj,v_proj'."
    )
    lora_layers: Optional[int] = opt(
        None,
        "Adapt only the top N transformer layers (default: all). Backward then stops below them: "
        "on a CPU a step costs less by about the share of layers left out.",
    )
    epochs: float = opt(3.0, "Passes over the training pairs.")
    max_steps: int = opt(-1, "Stop after this many optimizer steps (-1: run all epochs).")
    learning_rate: float = opt(2e-4, "Peak learning rate (linear decay after warmup).")
    warmup_ratio: float = opt(0.03, "Fraction of steps spent warming up the learning rate.")
    batch_size: int = opt(8, "Pairs per device per step.")
    gradient_accumulation_steps: int = opt(1, "Steps to accumulate before each optimizer update.")
    max_length: int = opt(512, "Most tokens per example; long responses are cut so the instruction always fits.")
    val_fraction: float = opt(0.1, "Share of the seed held out to report validation loss (0 turns it off).")
    eval_fraction: float = opt(
        0.0,
        "Share of the seed held out of training entirely and evaluated at the end "
        "(ROUGE-L and cosine vs zero-shot, as `backtranslate eval`); 0 turns it off.",
    )
    random_seed: int = opt(42, "Seed for the split, LoRA init and data order.")
    precision: str = opt("auto", "auto (bf16 where the CPU/GPU supports it, else fp32), bf16, fp16 or fp32.")
    group_by_length: bool = opt(True, "Batch examples of similar length together (less padding, faster).")
    gradient_checkpointing: bool = opt(False, "Trade compute for memory (large models on small GPUs).")
    logging_steps: int = opt(5, "Log the training loss every N steps.")
    checkpoint_steps: int = opt(
        0, "Save a checkpoint every N steps into OUTPUT_DIR/checkpoints (0: at each epoch's end)."
    )
    resume_from_checkpoint: Optional[str] = opt(None, "Continue an interrupted run: 'last' or a checkpoint folder.")

    def validate(self) -> list[str]:
        problems = []
        if self.lora_r <= 0 or self.lora_alpha <= 0:
            problems.append("lora_r and lora_alpha must be positive")
        if not 0 <= self.lora_dropout < 1:
            problems.append("lora_dropout must be in [0, 1)")
        if self.lora_layers is not None and self.lora_layers <= 0:
            problems.append("lora_layers must be positive (or unset: every layer)")
        if not 0 <= self.val_fraction < 1:
            problems.append("val_fraction must be in [0, 1)")
        if not 0 <= self.eval_fraction < 1:
            problems.append("eval_fraction must be in [0, 1)")
        if self.epochs <= 0 and self.max_steps <= 0:
            problems.append("set epochs > 0 or max_steps > 0")
        if self.learning_rate <= 0 or self.batch_size <= 0 or self.gradient_accumulation_steps <= 0:
            problems.append("learning_rate, batch_size and gradient_accumulation_steps must be positive")
        if self.max_length < 32:
            problems.append("max_length must be at least 32 tokens")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.checkpoint_steps < 0:
            problems.append("checkpoint_steps must be 0 or positive")
        return problems


@dataclass
class FinetuneConfig(TrainConfig):
    """Fine-tune a forward (instruction-following) model with LoRA on an Alpaca dataset.

    The training fields are those of TrainConfig (one code path fits both directions); these
    redefine what the data is and where it goes."""

    dataset: str = opt(
        "",
        "The Alpaca dataset: a generate/curate/convert output folder or a JSON/JSONL/CSV/"
        "Parquet file or dataset in any seed layout.",
    )
    dataset_fields: Optional[str] = opt(None, "Map the dataset's columns by hand, as --fields does for the seed.")
    seed: str = opt(
        "none",
        "Seed pairs mixed in with the dataset, as in Humpback: 'none', 'default' (shipped "
        "with the package) or a file or dataset in any seed layout.",
    )
    template: str = opt("alpaca", "Prompt template: alpaca or chat-forward (see templates.py).")
    output_dir: str = opt("runs/forward", "Where the adapter, tokenizer and backtranslate.json are written.")
    eval_fraction: float = opt(0.0, "Held-out evaluation measures backward models; must stay 0 here.")
    tags: bool = opt(
        True,
        "Humpback's system lines when a seed is mixed in: seed pairs 'Answer in the style "
        "of an AI Assistant.', dataset pairs 'Answer with knowledge from web search.'.",
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        if not self.dataset:
            command = "iterate CANDIDATES" if isinstance(self, IterateConfig) else "finetune DATASET"
            problems.append(f"name the data to train on (backtranslate {command})")
        if self.eval_fraction:
            problems.append("eval_fraction evaluates backward models; use val_fraction for a forward model")
        return problems


@dataclass
class IterateConfig(FinetuneConfig):
    """Humpback's loop: curate the candidates with the current forward model, fine-tune the next
    one on seed + the best-scored pairs, curate again. Training fields are those of finetune."""

    dataset: str = opt("", "The candidates: a generate output folder or a file of pairs in any seed layout.")
    seed: str = opt("default", "Seed pairs every forward model is trained on: 'default' or a file or dataset.")
    output_dir: str = opt(
        "runs/iterate", "The loop's folder: round-K/ (curated/, forward/, round.json), final/, iterate.json."
    )
    rounds: int = opt(1, "Rounds of (curate, fine-tune) after the first forward model; a final curation follows.")
    forward_model: Optional[str] = opt(
        None,
        "The forward model that scores round 1 (a finetune folder or a base model); "
        "default: fine-tune one on the seed alone first (Humpback's M0).",
    )
    scorer: str = opt(
        "likelihood",
        "likelihood (instruction-following gain) or rubric (the forward model rates "
        "each pair 1-5, Humpback's self-curation).",
    )
    threshold: Optional[float] = opt(None, "Keep pairs scoring at least this (rubric: 1-5; likelihood: nats/token).")
    top_fraction: Optional[float] = opt(
        0.5, "Keep the best-scored fraction of pairs (with --threshold: both must hold)."
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.rounds < 1:
            problems.append("rounds must be at least 1")
        if self.scorer not in curate_scorers():
            problems.append(f"scorer must be {' or '.join(curate_scorers())}")
        if self.top_fraction is not None and not 0 < self.top_fraction <= 1:
            problems.append("top_fraction must be in (0, 1]")
        if self.threshold is None and self.top_fraction is None:
            problems.append("set threshold or top_fraction, or every pair would count as best-scored")
        if self.seed == "none":
            problems.append("the loop trains on seed + best pairs: name a seed ('default' or a file)")
        return problems


@dataclass
class BackendSettings(*backend_option_classes()):
    """Where the model runs: the fields every command that runs the backward model shares
    (generate, plan, eval). It inherits each registered backend's own settings dataclass
    (inference/), whose fields become flags and YAML keys here; a value set for a backend that
    is not the chosen one is an error, not silently ignored."""

    precision: str = opt(
        "auto",
        "auto (bf16 where supported), bf16, fp16, fp32, or int8 (transformers backend on CPUs: "
        "int8 linear layers, 1.7x fp32 but worse instructions in the blind read; see README).",
    )
    backend: str = opt(
        "transformers",
        "Inference backend: transformers, vllm (install: pip install "
        "'backtranslate[vllm]' on GPUs, `make vllm-setup` on CPUs; see README), openai (any "
        "OpenAI-compatible server: vllm serve, SGLang, llama.cpp, Ollama, TGI; with --base-url), "
        "or fake (no model: instructions from each passage's first words, for tests and dry passes).",
    )

    def backend_problems(self) -> list[str]:
        problems = []
        if self.precision not in INFERENCE_PRECISIONS:
            problems.append(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}")
        elif self.precision == "int8" and self.backend != "transformers":
            problems.append("precision int8 runs on the transformers backend only")
        return problems + option_problems(self.backend, self)


@dataclass
class GenerateConfig(BackendSettings):
    """Backtranslate a corpus: passages -> candidate instructions -> filtered Alpaca dataset."""

    corpus: str = opt("corpora/emails", "A folder (walked recursively), a file, or a Hugging Face dataset name.")
    out: str = opt("runs/dataset", "Output folder for data.json, data.jsonl, rejected.jsonl, stats.json, README.md.")
    model: str = opt(
        "default", "A folder written by `backtranslate train`, or a base model for zero-shot reverse prompting."
    )
    template: Optional[str] = opt(
        None, "Prompt template; default: the one the trained model was trained with, else 'reverse'."
    )
    prime: bool = opt(
        True,
        "Open the instruction by what the passage is, as the seed's pairs of that kind open: "
        "'Reply to the' over a list reply with its parent, 'Write a patch' over a patch, 'Explain how' "
        "over a docs section, 'Write an article about' over a page that says it is an article "
        "(priming.py). Where the header says it all (a patch's or thread's subject, an article's "
        "headline, a docs section's headings) it is the whole instruction and the model does not "
        "run. On real mail, docs and web pages it raised the usable share of a blind read "
        "(benchmarks/RESULTS.md); --no-prime lets the model choose.",
    )
    text_field: str = opt("text", "Column holding the text in JSONL/JSON/CSV/Parquet corpora and datasets.")
    id_field: Optional[str] = opt(None, "Column holding each row's own id (default: 'id' when present).")
    min_tokens: int = opt(24, "Shortest passage in tokens; shorter pieces join their neighbour.")
    max_tokens: int = opt(384, "Longest passage in tokens; longer documents are cut along paragraphs and headings.")
    max_passages: Optional[int] = opt(None, "Stop after this many passages (a quick look at a big corpus).")
    num_candidates: Optional[int] = opt(
        None,
        "Instructions per passage; of those that pass the filters the most "
        "relevant is kept (best of K). Default 1, greedy: 4 sampled kept more "
        "passages of real corpora but wrote worse instructions in the blind "
        "read (benchmarks/RESULTS.md).",
    )
    retry: int = opt(
        0,
        "Passages whose one greedy instruction the pair filters drop get this many sampled "
        "candidates, and the most relevant that passes is kept (0: off). The greedy "
        "instruction stays first choice wherever it passes. With the embedded 135M model "
        "retried pairs were rarely usable (2 of 30 vs 10 of 30 greedy, benchmarks/RESULTS.md).",
    )
    greedy: Optional[bool] = opt(
        None,
        "Greedy decoding, or sampling (--no-greedy, top_p/temperature); default: greedy "
        "for one candidate per passage (it wrote the closest instructions, see "
        "benchmarks/RESULTS.md), sampling for several.",
    )
    temperature: float = opt(0.9, "Sampling temperature.")
    top_p: float = opt(0.9, "Nucleus sampling threshold.")
    max_new_tokens: int = opt(100, "Longest instruction in tokens; one that hits it is rejected as truncated.")
    batch_size: int = opt(
        64,
        "Most prompts per generation batch (batches run longest prompt first); a chunk "
        "of 4 batches is also what an interrupted run redoes.",
    )
    batch_tokens: int = opt(
        32768,
        "Most tokens per generation batch, counted as prompts x (longest prompt + "
        "max_new_tokens): short passages run many to a batch, long ones few.",
    )
    balance: Optional[str] = opt(
        None,
        "Steer best of K toward a task mix (tasktypes.py): 'uniform' (the rarest type so far wins) or "
        "shares such as 'write=0.3,answer=0.2' (the rest spread over the other types). Only candidates "
        "within --balance-margin of the best relevance compete on type; needs --num-candidates 2 or more. "
        "No primer is used with it (--prime would open every candidate of a passage alike).",
    )
    balance_margin: float = opt(
        0.05, "How far below the best relevance score a candidate may be and still be kept for its task type."
    )
    filter: bool = opt(True, "Filter the pairs; --no-filter keeps every candidate (for evaluations).")
    max_instruction_words: int = opt(150, "Instructions longer than this are rejected.")
    near_duplicate_threshold: float = opt(0.8, "MinHash Jaccard above which an instruction counts as a near duplicate.")
    relevance: bool = opt(
        True,
        "Score how well each instruction fits its passage and drop pairs below "
        "--relevance-threshold; --no-relevance turns it off.",
    )
    relevance_scorer: str = opt(
        "embedding",
        "embedding (all-MiniLM-L6-v2 cosine, cheap) or likelihood (the gain "
        "in log p(passage) the instruction gives the base model).",
    )
    relevance_threshold: Optional[float] = opt(
        None,
        "Lowest relevance kept; default: the scorer's threshold calibrated on real corpora (benchmarks/RESULTS.md).",
    )
    confidence: bool = opt(
        False,
        "Score how sure the backward model was of each instruction (log p with its passage, and how "
        "much the passage raised it) and drop pairs below --confidence-threshold. Off by default: the "
        "threshold is calibrated for make demo's adapter (configs/cpu-demo.yaml turns it on).",
    )
    confidence_threshold: Optional[float] = opt(
        None,
        "Lowest confidence kept; default: the bottom quarter of make demo's adapter on real corpora "
        "(-0.6, benchmarks/RESULTS.md). Another backward model needs its own: benchmarks/judged_pairs.py.",
    )
    curate: Optional[str] = opt(
        None,
        "Self-curate the kept pairs as they are made: 'likelihood' or 'rubric' "
        "(see `backtranslate curate`); the score goes into each record.",
    )
    curate_model: str = opt(
        "default",
        "Forward model (likelihood) or judge (rubric) for --curate. With --backend openai the "
        "scorer asks the same server(s) for the model this names.",
    )
    curate_threshold: Optional[float] = opt(
        None,
        "Keep curated pairs scoring at least this (rubric 1-5; likelihood nats/token, e.g. 0); none keeps all, scored.",
    )
    system_tags: bool = opt(
        False,
        "Give every pair Humpback's tag for generated data ('Answer with knowledge from web search.') as "
        "its system line: a `system` column in data.json and sharegpt.json, named in dataset_info.json, "
        "and the system prompt `finetune` uses.",
    )
    rewrite: Optional[str] = opt(
        None,
        "Rewrite each kept output into an assistant's answer to its instruction with this instruct "
        "model ('default': the embedded one); a rewrite the passage does not support is not kept "
        "(the pair keeps the passage, with the reason). With --backend openai, asked of the same server(s).",
    )
    rewrite_min_support: float = opt(
        1.0, "Share of a rewrite's claims the passage must support for the rewrite to be kept (0-1)."
    )
    rewrite_similarity: float = opt(
        0.5, "Lowest cosine between a rewrite's claim and some span of its passage that counts as support."
    )
    rewrite_max_new_tokens: int = opt(384, "Longest rewrite in tokens; one that hits it is not kept.")
    translate: Optional[str] = opt(
        None,
        "Translate each kept instruction into its passage's language with this instruct model "
        "('default': the embedded one), where the backward model wrote it in another (a translate "
        "pivot: the backward model and the filters stay English); a translation not detected in the "
        "passage's language drops the pair with the reason. `--languages auto` then keeps every language.",
    )
    translate_similarity: float = opt(
        0.7,
        "Lowest cosine between an instruction and its translation translated back to English by the "
        "same model (the round trip); a translation below it is dropped as unfaithful.",
    )
    redact: bool = opt(
        True,
        "Replace personal data and secrets (names from mail headers and signatures, e-mail "
        "addresses, phones, IPs, cards, IBANs, token URLs, API keys, passwords) with "
        "placeholders such as <PERSON_1> before generation; --no-redact keeps the text as is.",
    )
    email_mode: str = opt(
        "auto",
        "auto (threads wherever the mail has reply links), thread (a reply becomes a "
        "record whose input is the message it answers; a reply whose message is not in "
        "the corpus is dropped) or message (one record per e-mail, replies alone).",
    )
    patches: str = opt(
        "keep",
        "Patch mails: keep (one passage with their description, never cut into hunks; "
        "dropped when longer than max_tokens) or drop.",
    )
    languages: Optional[str] = opt(
        "auto",
        "Keep only passages in these languages: auto (those of the backward "
        "model's seed, as `train` recorded them; every language for a base "
        "model), or a comma list of ISO 639-1 codes such as 'en,de'; an empty "
        "value keeps all. Every passage's language is recorded either way.",
    )
    decontaminate: Optional[list[str]] = opt(
        None,
        "Evaluation sets to keep out of the data (repeat the flag): "
        "JSON/JSONL/CSV/Parquet files, save_to_disk folders or Hugging "
        "Face datasets ('name' or 'name:config'). Applies with --no-filter too.",
    )
    decontaminate_ngram: int = opt(13, "Words in a row shared with an evaluation item that make a pair contaminated.")
    decontaminate_threshold: float = opt(
        0.8, "MinHash Jaccard with an evaluation item at or above which a pair is contaminated."
    )
    format: str = opt(
        "alpaca",
        "Extra outputs besides data.json/data.jsonl, comma list: alpaca, sharegpt "
        "(sharegpt.json), messages (messages.jsonl, TRL's conversational layout), parquet, hf, dpo (dpo/: preference pairs), kto (kto/).",
    )
    random_seed: int = opt(42, "Seed for sampling; the same seed gives the same candidates.")
    overwrite: bool = opt(False, "Replace an existing run in --out instead of resuming it.")
    resume: bool = opt(False, "Insist on resuming the run in --out (a rerun of the same command resumes anyway).")
    shard: Optional[str] = opt(
        None,
        "Process only shard I of N ('I/N', 0-based), into --out/shard-I-of-N; "
        "under torchrun/accelerate the rank picks it. Combine with `backtranslate merge`.",
    )
    license: str = opt(
        "other",
        "The card's license: a Hub license id (apache-2.0, cc-by-4.0, ...) or 'other' (the corpus owner's terms).",
    )
    language: str = opt("en", "The card's language code.")
    push_to_hub: Optional[str] = opt(None, "Also push the dataset and its card to this Hub dataset repo ('user/name').")
    hub_private: bool = opt(
        True, "Push as a private dataset (mail and documents are often private); --no-hub-private publishes it."
    )

    def __post_init__(self) -> None:
        if self.num_candidates is None:  # --greedy alone asks for the one greedy candidate
            self.num_candidates = 1 if self.greedy else DEFAULT_CANDIDATES

    def validate(self) -> list[str]:
        problems = []
        if not 0.0 <= self.rewrite_min_support <= 1.0:
            problems.append("rewrite_min_support must be between 0 and 1")
        if self.rewrite_max_new_tokens < 16:
            problems.append("rewrite_max_new_tokens must be at least 16")
        if not -1.0 <= self.translate_similarity <= 1.0:
            problems.append("translate_similarity is a cosine: between -1 and 1")
        if self.min_tokens < 1 or self.max_tokens < self.min_tokens:
            problems.append("need 1 <= min_tokens <= max_tokens")
        if min(self.num_candidates, self.batch_size, self.batch_tokens, self.max_new_tokens) < 1:
            problems.append("num_candidates, batch_size, batch_tokens and max_new_tokens must be positive")
        if self.retry < 0:
            problems.append("retry must be 0 (off) or a number of sampled candidates")
        elif self.retry and not (self.num_candidates == 1 and self.use_greedy):
            problems.append("--retry follows up one greedy candidate: with --num-candidates K every passage gets K")
        if self.greedy and self.num_candidates > 1:
            problems.append("greedy decoding gives one candidate per passage: drop --greedy or set --num-candidates 1")
        problems += self.balance_problems()
        if not 0 < self.top_p <= 1 or self.temperature <= 0:
            problems.append("top_p must be in (0, 1] and temperature positive")
        if not 0 < self.near_duplicate_threshold <= 1:
            problems.append("near_duplicate_threshold must be in (0, 1]")
        unknown = set(self.formats) - set(FORMATS)
        if unknown:
            problems.append(f"unknown format(s) {', '.join(sorted(unknown))}: choose from {', '.join(FORMATS)}")
        if self.email_mode not in EMAIL_MODES:
            problems.append("email_mode must be message or thread (or auto, the default)")
        from .filters.relevance import SCORERS as RELEVANCE_SCORERS  # the scorers' own registry

        if self.relevance_scorer not in RELEVANCE_SCORERS:
            problems.append(f"relevance_scorer must be {' or '.join(RELEVANCE_SCORERS)}")
        from .filters import PATCH_MODES  # the filter owns its modes

        if self.patches not in PATCH_MODES:
            problems.append(f"patches must be one of {', '.join(PATCH_MODES)}")
        if self.languages and self.languages.strip().lower() != "auto":
            from .filters.language import known_languages, parse_languages

            bad = sorted(set(parse_languages(self.languages) or ()) - known_languages())
            if bad:
                problems.append(f"unknown language code(s) {', '.join(bad)}: use ISO 639-1 codes such as en, de, fr")
        if self.decontaminate_ngram < 5:
            problems.append("decontaminate_ngram must be at least 5 words")
        if not 0 < self.decontaminate_threshold <= 1:
            problems.append("decontaminate_threshold must be in (0, 1]")
        problems += self.backend_problems()
        if self.curate is not None and self.curate not in curate_scorers():
            problems.append(f"curate must be {' or '.join(repr(s) for s in curate_scorers())}, got '{self.curate}'")
        if self.curate_threshold is not None and self.curate is None:
            problems.append("curate_threshold needs --curate likelihood or --curate rubric")
        if self.shard is not None:
            try:
                parse_shard(self.shard)
            except ValueError:
                problems.append(f"shard must look like I/N with 0 <= I < N, got '{self.shard}'")
        if self.push_to_hub and not valid_repo_id(self.push_to_hub):
            problems.append(f"push_to_hub must be a Hub dataset name such as 'user/name', got '{self.push_to_hub}'")
        return problems

    def balance_problems(self) -> list[str]:
        """--balance chooses among a passage's candidates in best of K: it needs several, and the filters."""
        if not self.balance:
            return []
        from .tasktypes import parse_target

        problems = []
        try:
            parse_target(self.balance)
        except ValueError as e:
            problems.append(str(e))
        if self.num_candidates < 2:
            problems.append(
                "balance chooses among a passage's candidates, and there is one: add --num-candidates 4 "
                "(sampled), or drop --balance"
            )
        if not self.filter:
            problems.append("balance chooses in best of K, which --no-filter turns off: drop one of them")
        if self.balance_margin < 0:
            problems.append("balance_margin must be 0 or more")
        return problems

    @property
    def use_greedy(self) -> bool:
        return self.num_candidates == 1 if self.greedy is None else self.greedy

    @property
    def use_prime(self) -> bool:
        # --balance asks for a task mix; a primer opens every candidate of a passage alike and
        # would leave it nothing to choose between.
        return self.prime and not self.balance

    @property
    def formats(self) -> list[str]:
        return [f.strip() for f in self.format.split(",") if f.strip()]


def valid_repo_id(name: str) -> bool:
    """Checked before a long run, not after it, when the push would fail."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def parse_shard(spec: str) -> tuple[int, int]:
    index, _, count = spec.partition("/")
    i, n = int(index), int(count)
    if not 0 <= i < n:
        raise ValueError(spec)
    return i, n


@dataclass
class EvalConfig(BackendSettings):
    """Measure the backward model on held-out pairs: ROUGE-L and embedding cosine against the
    human instructions, side by side with zero-shot reverse prompting of its base model."""

    model: str = opt("", "A folder written by `train` (compared with its base, zero-shot), or any model.")
    heldout: str = opt("", "Held-out (instruction, response) pairs in any seed layout (file, folder or Hub dataset).")
    fields: Optional[str] = opt(None, "Map columns by hand, as for --seed.")
    baseline: str = opt("auto", "'auto' (the trained model's base, zero-shot), 'none', or a model.")
    limit: Optional[int] = opt(None, "Evaluate only the first N pairs.")
    report: Optional[str] = opt(None, "Where the JSON report goes (default: MODEL/eval.json, or eval.json).")
    greedy: bool = opt(True, "Greedy decoding, or sampling (--no-greedy) with temperature and top_p.")
    # The same decoding defaults as generate: eval measures the instructions generate would write.
    temperature: float = opt(GenerateConfig.temperature, "Sampling temperature (with --no-greedy).")
    top_p: float = opt(GenerateConfig.top_p, "Nucleus sampling threshold (with --no-greedy).")
    max_new_tokens: int = opt(GenerateConfig.max_new_tokens, "Longest instruction in tokens.")
    batch_size: int = opt(GenerateConfig.batch_size, "Most prompts per generation batch.")
    random_seed: int = opt(GenerateConfig.random_seed, "Seed for sampling.")
    max_response_tokens: int = opt(512, "Responses longer than this are cut, as training cuts them.")

    def validate(self) -> list[str]:
        problems = [f"--{name} is required" for name in ("model", "heldout") if not getattr(self, name)]
        if self.limit is not None and self.limit < 1:
            problems.append("limit must be positive")
        if min(self.max_new_tokens, self.batch_size, self.max_response_tokens) < 1:
            problems.append("max_new_tokens, batch_size and max_response_tokens must be positive")
        return problems + self.backend_problems()


@dataclass
class CheckConfig(BackendSettings):
    """Check that a model loads and answers on its backend (for a server: reachable, the key
    accepted, the model or adapter served) and preview the instruction it writes for one passage."""

    model: str = opt("default", "A folder written by `train`, or any model (for a server: its tokenizer).")
    template: Optional[str] = opt(None, "Prompt template (default: the train folder's, else reverse).")
    passage: Optional[str] = opt(None, "The text to preview an instruction for (default: a response from the seed).")
    max_new_tokens: int = opt(GenerateConfig.max_new_tokens, "Longest instruction in tokens.")

    def validate(self) -> list[str]:
        problems = [] if self.max_new_tokens > 0 else ["max_new_tokens must be positive"]
        return problems + self.backend_problems()


@dataclass
class HubSettings:
    """Publishing a folder a command wrote (generate has the same two fields)."""

    push_to_hub: Optional[str] = opt(None, "Also push the dataset and its card to this Hub dataset repo ('user/name').")
    hub_private: bool = opt(
        True, "Push as a private dataset (mail and documents are often private); --no-hub-private publishes it."
    )

    def hub_problems(self) -> list[str]:
        if self.push_to_hub and not valid_repo_id(self.push_to_hub):
            return [f"push_to_hub must be a Hub dataset name such as 'user/name', got '{self.push_to_hub}'"]
        return []


def _format_problems(value: str) -> list[str]:
    unknown = set(_names(value)) - set(FORMATS)
    return [f"unknown format(s) {', '.join(sorted(unknown))}: choose from {', '.join(FORMATS)}"] if unknown else []


def _names(value: Optional[str]) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


FORMAT_HELP = "Extra files besides data.json/data.jsonl, comma list: " + ", ".join(FORMATS) + "."


@dataclass
class CurateConfig(BackendSettings, HubSettings):
    """Self-curation: score every pair and keep those at or above --threshold or in the best
    --top-fraction (all, if neither is given)."""

    dataset: str = opt("", "A generate output folder, or a JSON/JSONL/CSV/Parquet file of pairs.")
    out: Optional[str] = opt(None, "Where the curated dataset goes (default: DATASET/curated, or DATASET-curated).")
    scorer: str = opt("likelihood", "likelihood (instruction-following gain) or rubric (Humpback's 1-5 rating).")
    model: str = opt(
        "default", "Forward model (likelihood) or judge (rubric); a finetune folder works too.", aliases=("--judge",)
    )
    threshold: Optional[float] = opt(
        None, "Keep pairs scoring at least this (rubric: 1-5; likelihood: nats/token, e.g. 0)."
    )
    top_fraction: Optional[float] = opt(
        None, "Keep the best-scored fraction of pairs, e.g. 0.5 (with --threshold: both must hold)."
    )
    format: str = opt("alpaca", FORMAT_HELP)

    def validate(self) -> list[str]:
        problems = [] if self.dataset else ["DATASET is required"]
        if self.scorer not in curate_scorers():
            problems.append(f"Unknown scorer '{self.scorer}': choose {' or '.join(curate_scorers())}")
        if self.top_fraction is not None and not 0 < self.top_fraction <= 1:
            problems.append(f"--top-fraction must be in (0, 1], got {self.top_fraction}")
        return problems + _format_problems(self.format) + self.hub_problems() + self.backend_problems()


@dataclass
class DedupConfig(HubSettings):
    """Drop exact and near-duplicate pairs (MinHash LSH over instructions and outputs), keeping
    the first of each group."""

    dataset: str = opt("", "A dataset folder or a file of pairs.")
    out: Optional[str] = opt(None, "Where the deduplicated dataset goes (default: DATASET/dedup, or DATASET-dedup).")
    fields: str = opt("instruction,output", "Comma list of fields compared: instruction, input, output.")
    threshold: float = opt(0.8, "Estimated Jaccard (MinHash LSH) from which two texts are near duplicates.")
    format: str = opt("alpaca", FORMAT_HELP)

    def validate(self) -> list[str]:
        problems = [] if self.dataset else ["DATASET is required"]
        return problems + _format_problems(self.format) + self.hub_problems()


@dataclass
class ConvertConfig(HubSettings):
    """Turn a classic labelled dataset (text, label) or an extraction set into Alpaca records:
    your instruction, the text as input, the label (or the phrases) as output."""

    source: str = opt("", "A CSV/JSON/JSONL/Parquet file or a dataset of labelled rows.")
    instruction: str = opt("", "The instruction of every record; may name {labels} and {column}s.")
    out: str = opt("runs/converted", "The output folder.")
    text_column: str = opt("text", "Column with the text (or the token list, with --tags-column).")
    label_column: str = opt("label", "Column with the label, or a list of phrases to extract.")
    tags_column: Optional[str] = opt(None, "Column with BIO tags per token: a token-tagging set.")
    label_names: Optional[str] = opt(None, "Names for label values, e.g. '0=Non-Complaint,1=Complaint'.")
    entity: Optional[str] = opt(None, "Token tagging: keep only spans of this type (e.g. PER).")
    separator: str = opt(", ", "Joins extracted phrases in the output.")
    empty: str = opt("None", "The output when a row has nothing to extract.")
    limit: Optional[int] = opt(None, "Convert only the first N rows.")
    license: str = opt("other", "The card's license (a Hub license id), 'other' if unknown.")
    language: str = opt("en", "The card's language code.")
    format: str = opt("alpaca", FORMAT_HELP)

    def validate(self) -> list[str]:
        problems = [
            f"{what} is required" for what, v in (("SOURCE", self.source), ("--instruction", self.instruction)) if not v
        ]
        return problems + _format_problems(self.format) + self.hub_problems()


@dataclass
class ReportConfig:
    """Write an HTML report with charts: lengths, kept/dropped by reason, scores, instruction
    openings, near-duplicate clusters and sample pairs."""

    dataset: str = opt("", "A dataset folder (generate, curate, dedup, merge, convert) or a file of pairs.")
    out: Optional[str] = opt(None, "Where index.html and the charts go (default: DATASET/report, or DATASET-report).")
    threshold: float = opt(0.8, "Estimated Jaccard from which texts count as near duplicates.")
    samples: int = opt(12, "Pairs shown in the sample table.")

    def validate(self) -> list[str]:
        problems = [] if self.dataset else ["DATASET is required"]
        if not 0 < self.threshold <= 1:
            problems.append(f"--threshold must be in (0, 1], got {self.threshold}")
        return problems


@dataclass
class MergeConfig(HubSettings):
    """Merge the shard folders of a sharded generate run into one dataset in OUT."""

    out: str = opt("", "The --out of a sharded generate run (holds shard-I-of-N folders).")
    shard_dir: Optional[list[str]] = opt(None, "Shard folders, if not under OUT (repeat the flag).")

    def validate(self) -> list[str]:
        return ([] if self.out else ["OUT is required"]) + self.hub_problems()


SECTIONS: dict[str, type] = {
    "train": TrainConfig,
    "generate": GenerateConfig,
    "eval": EvalConfig,
    "finetune": FinetuneConfig,
    "iterate": IterateConfig,
    "curate": CurateConfig,
    "dedup": DedupConfig,
    "convert": ConvertConfig,
    "report": ReportConfig,
    "merge": MergeConfig,
    "check": CheckConfig,
}


def section_of(cls: type) -> str:
    return next(name for name, c in SECTIONS.items() if c is cls)


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _base_type(tp: Any) -> Any:
    """int for Optional[int], and so on."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def _coerce(name: str, value: Any, tp: Any) -> tuple[Any, Optional[str]]:
    base = _base_type(tp)
    if value is None:
        ok = base is not tp  # only Optional fields take null
        return value, None if ok else f"'{name}' may not be empty"
    if base is bool:
        return (value, None) if isinstance(value, bool) else (value, f"'{name}' must be true or false")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        return value, f"'{name}' must be a whole number, got {value!r}"
    if base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        return value, f"'{name}' must be a number, got {value!r}"
    if typing.get_origin(base) is list:  # a YAML list, or one value standing for a list of one
        items = value if isinstance(value, list) else [value]
        if all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            return [str(v) for v in items], None
        return value, f"'{name}' must be a list of text values, got {value!r}"
    if base is str:
        if isinstance(value, list):  # YAML lists such as target modules read as comma lists
            return ",".join(str(v) for v in value), None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value), None
        return value, f"'{name}' must be text, got {value!r}"
    return value, None


def load_yaml(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"Config file {p} does not exist; see configs/ for the shipped presets.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"Config file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"Config file {p} must be a mapping of sections such as 'train:'.")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UserError(
            f"Config file {p} has unknown section(s) {', '.join(unknown)}; known sections: {', '.join(SECTIONS)}."
        )
    return data


def resolve(cls: type, config_path: Optional[str], overrides: dict[str, Any]) -> Any:
    """Defaults, then the YAML section for this command, then flags (``None`` means not given)."""
    section = section_of(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    types_ = field_types(cls)
    if config_path:
        raw = load_yaml(config_path).get(section) or {}
        if not isinstance(raw, dict):
            raise UserError(f"Section '{section}' of {config_path} must be a mapping of options.")
        for key, value in raw.items():
            if key not in types_:
                problems.append(f"unknown key '{key}' in section '{section}'")
                continue
            values[key], problem = _coerce(key, value, types_[key])
            if problem:
                problems.append(problem)
    values.update(
        {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in overrides.items()
            if v is not None and v != () and v != []
        }
    )
    if not problems:
        cfg = cls(**values)
        problems = cfg.validate()
    if problems:
        where = f" ({config_path})" if config_path else ""
        raise UserError(f"Invalid {section} config{where}: " + "; ".join(problems) + ".")
    return cfg


SECRET = "***"  # what a config dump shows for a secret that is set


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config's fields (for --dry-run, stats.json, progress files), with secrets (fields marked
    ``secret``: the API key) masked, so no output ever holds one."""
    out = dataclasses.asdict(cfg)
    for f in dataclasses.fields(cfg):
        if f.metadata.get("secret") and out.get(f.name) is not None:
            out[f.name] = SECRET
    return out

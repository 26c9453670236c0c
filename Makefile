# Two commands do all the set-up: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the project into it first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch; asking for it first stops pip from pulling a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
DEMO_STEPS ?= 2500

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[data,report,dev]"
	@touch $(STAMP)

install: $(STAMP)

# Trains the default DCGAN on the 5,000 bundled MNIST digits (a few minutes on 2 CPU cores).
demo: $(STAMP)
	$(BIN)/ganhacks train --data mnist5k --steps $(DEMO_STEPS) --out runs

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

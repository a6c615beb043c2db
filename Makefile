# lacbed-bridge — the README's two commands.
#   make run   : the main job (Snakemake workflow) on the embedded default config.yaml
#   make test  : the test suite
#   make quick : the quick loop while developing: the tests not marked slow, on 2 workers (< 1 min)
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   ?= .venv
# The CPU build of PyTorch is pinned here so that pip does not pull a multi-GB CUDA build.
# GPU users: `make TORCH_SPEC=torch` (or install their own torch into .venv first).
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= config.yaml
CORES  ?= 2

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test quick install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip || echo "make: pip upgrade failed; going on with the venv's own pip"
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

# The rules call the package through the interpreter that runs Snakemake; the venv's bin also
# goes first on PATH for the tools a user adds to the workflow.
SMK := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

run: $(STAMP)
	$(BIN)/lacbed-bridge check-config $(CONFIG)
	$(SMK) --keep-going --rerun-incomplete
	$(SMK) --report results/report.html

test: $(STAMP)
	$(BIN)/python -m pytest

quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2 -q

clean:
	rm -rf results logs .snakemake

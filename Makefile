# Every target installs into .venv on first use. On a machine without an NVIDIA GPU the
# CPU build of PyTorch goes in first, so pip never pulls the multi-GB CUDA build.
# Override TORCH_SPEC to pick another build, e.g. TORCH_SPEC="torch==2.13.0 --index-url URL".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: install demo test check lint typecheck rules unit notebooks lab bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install --quiet $(TORCH_SPEC); fi
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/model-trainer demo

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

rules: $(STAMP)
	$(BIN)/python scripts/check_rules.py src tests bench scripts notebooks
	$(BIN)/python scripts/check_layers.py src

unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --cov=model_trainer --cov-branch --cov-report=term-missing --cov-fail-under=100 tests

notebooks: $(STAMP)
	if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  MODEL_TRAINER_CONSOLE=1 $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider --nbmake --nbmake-timeout=180 notebooks; fi

test: lint typecheck rules unit notebooks

check: test

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	for script in bench/bench_*.py; do OMP_NUM_THREADS=2 $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*

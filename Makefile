# aiotrainer: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# The CPU build of torch for the `torch` extra's tests, pinned to its local
# version: a bare `torch` (or `torch==2.13.0` resolved on PyPI for Linux) pulls a
# multi-GB CUDA build. Where this wheel is not on disk, point pip at PyTorch's CPU
# index: make install-dev TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'
TORCH ?= torch==2.13.0+cpu
TORCH_PIP_ARGS ?=

.PHONY: run test lint fmt typecheck pytest docs docs-check bench clean install install-dev

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) '$(TORCH)' numpy
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

run: $(STAMP_RUN)
	$(BIN)/aiotrainer run configs/demo.yaml

LINTED := src tests examples tools

lint: $(STAMP_DEV)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

fmt: $(STAMP_DEV)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

typecheck: $(STAMP_DEV)
	$(BIN)/mypy --strict src

pytest: $(STAMP_DEV)
	$(BIN)/pytest

# The documentation site (mkdocs.yml): built into site/, failing on any warning
# (a broken link or reference, a page missing from the nav).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: $(STAMP_DEV)
	$(MKDOCS) build --strict --site-dir site

docs-check: $(STAMP_DEV)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MKDOCS) build --strict --site-dir "$$tmp/site"

test: lint typecheck pytest docs-check

bench: $(STAMP_DEV)
	$(PY) -m tests.benchmarks

clean:
	rm -rf $(VENV) build dist site .mypy_cache .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

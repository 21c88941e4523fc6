# The two set-up commands of the README (`make demo`, `make test`) create .venv on first use and
# install the package with the pinned versions of the interpreter's constraints file
# (constraints.txt on Python 3.11, constraints-py3.12.txt on 3.12); later calls reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Python version of an interpreter, and the constraints file that pins its packages.
python_version = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
constraints_for = $(if $(filter 3.11,$(1)),constraints.txt,constraints-py$(1).txt)
# .venv's interpreter once it exists, else $(PYTHON), which creates it.
VENV_PYTHON := $(shell test -x $(BIN)/python && echo $(BIN)/python || echo $(PYTHON))
CONSTRAINTS := $(call constraints_for,$(call python_version,$(VENV_PYTHON)))

.PHONY: install demo core-demo test lint format bench bench-cores bench-peers lock

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

# A Python without pins of its own (rlssm supports 3.11 and 3.12).
constraints-py%.txt:
	@echo "No pinned versions for Python '$*' ($(PYTHON)): rlssm supports 3.11 and 3.12" \
	  "(make PYTHON=python3.11 ..., or python3.12; remove .venv made by another Python)." >&2; exit 1

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m experiments.ppo cpu-small

core-demo: $(STAMP)
	$(BIN)/python -m experiments.core_demo

test: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench-cores: $(STAMP)
	$(BIN)/python -m benchmarks.cores --write-docs

# Side by side with rejax, memax and popgym (their own venv, .peers-venv, built on first use).
bench-peers: $(STAMP)
	$(BIN)/python -m benchmarks.peers --write-docs

bench: bench-cores
	$(BIN)/python -m pytest -m slow

# Re-resolve the pins of $(PYTHON)'s version (run by a maintainer, once per supported Python, e.g.
# `make lock PYTHON=python3.12`, then commit the constraints file it names).
LOCK_VERSION = $(call python_version,$(PYTHON))
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# Exact versions that \`make install\` resolves on Python $(LOCK_VERSION)" \
	  "(regenerate with \`make lock PYTHON=python$(LOCK_VERSION)\`)."; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e'; \
	} > $(call constraints_for,$(LOCK_VERSION))
	rm -rf .lockenv

# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) .venv from uv.lock; uv itself is bootstrapped into .tools/ if missing.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint bench env clean-state

demo: .venv/.synced  ## Generate the demo library and start the Dagster UI on 127.0.0.1:3000
	.venv/bin/comix demo

test: .venv/.synced  ## Lint, then the whole test suite (fast and slow tests)
	.venv/bin/ruff check .
	.venv/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: .venv/.synced  ## Unit tests only
	.venv/bin/pytest -n 2 --dist loadfile -m "not slow" $(PYTEST_ARGS)

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: .venv/.synced  ## Benchmarks that print figures
	.venv/bin/comix bench extract

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.9"

clean-state:  ## Forget all CoMix state (lake, Dagster runs) under ./.comix
	rm -rf .comix

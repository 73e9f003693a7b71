# The two set-up commands in the README (`make demo`, `make test`) install everything first.
VENV := .venv
PY := $(VENV)/bin/python
ISOLATED := scripts/isolated

.PHONY: deps demo test check lint types bench clean messages

deps:
	@scripts/install-deps

demo: deps
	$(ISOLATED) $(VENV)/bin/netladder lab demo

# The whole suite, inside a fresh network namespace: no packet can leave the machine.
test: deps
	$(ISOLATED) $(PY) -m pytest $(PYTEST_ARGS)

# ruff, then the layers (pyproject's [tool.importlinter] contracts: what may import what).
lint: deps
	$(VENV)/bin/ruff check src tests bench scripts/messages.py
	$(VENV)/bin/ruff format --check src tests bench scripts/messages.py
	$(VENV)/bin/lint-imports --no-cache --no-logo

types: deps
	$(VENV)/bin/mypy

check: lint types test

# Extract the messages marked for translation into the Korean catalog and compile it
# (scripts/messages.py; tests/test_catalog.py says when this is due).
messages: deps
	$(PY) scripts/messages.py

bench: deps
	$(ISOLATED) $(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache

# trail-audit: `make demo` and `make test` work on a fresh Debian machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup test lint typecheck unit demo bench bench-monitor clean

setup: $(STAMP)
	@scripts/ensure-redis

$(STAMP): pyproject.toml
	@scripts/ensure-python $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest -q

unit: setup
	$(PY) -m pytest -q -m "not e2e"

demo: setup
	$(PY) -m demo

bench: setup
	$(PY) bench/audit_bench.py
	$(PY) bench/ack_bench.py

bench-monitor: setup
	$(PY) bench/monitor_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

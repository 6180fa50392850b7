# trail-audit: `make demo` and `make test` work on a fresh Debian machine with Python 3.11+.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements-test.lock | cksum | cut -d' ' -f1)
JOBS   ?= 6

.PHONY: setup test lint lock typecheck unit demo bench bench-monitor clean

setup: $(STAMP)
	@scripts/ensure-redis

# The exact versions in requirements-test.lock (made by pip-compile from pyproject.toml: `make lock`).
$(STAMP): pyproject.toml requirements-test.lock
	@scripts/ensure-python $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --no-compile --no-deps -r requirements-test.lock
	@$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true  # pip compiles on one core; this on all
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

lock: setup
	$(PY) -m pip install -q pip-tools
	$(VENV)/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile -q --extra test --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements-test.lock pyproject.toml

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/cfn-lint deploy/events/*.yaml deploy/aws/*.yaml

# lint and the suite at once (the suite mostly waits on the processes it starts); both must pass
# (the suite's verdict and any failure are repeated last, after lint's output, where a CI log's tail shows them)
test: setup
	@$(MAKE) --no-print-directory lint > .lint.log 2>&1 & lint=$$!; \
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup 2>&1 | tee .pytest.log; tests=$${PIPESTATUS[0]}; \
	wait $$lint; linted=$$?; cat .lint.log; rm -f .lint.log; \
	echo "--- lint: $$(test $$linted -eq 0 && echo clean || echo FAILED); suite:"; \
	grep -E '^(FAILED|ERROR) |^E   |[0-9]+ (passed|failed|error)' .pytest.log | tail -n 40; rm -f .pytest.log; \
	test $$tests -eq 0 && test $$linted -eq 0

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

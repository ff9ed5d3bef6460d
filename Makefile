# Two entry points, each safe on a fresh machine: `make tour` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup tour test browser lint

setup: $(VENV)/.installed

# The CPU build of torch first, so that no multi-GB CUDA build is pulled in.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

tour: setup
	$(VENV)/bin/inertia tour

# Headless Chromium checks the HTML report; installed when we may (root with apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: the report's browser test will be skipped"

lint: setup
	$(VENV)/bin/ruff check .

test: setup browser lint
	$(PY) -m pytest -n 2 --durations=15

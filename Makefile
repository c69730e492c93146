# wsss-lab: one virtual environment (.venv), everything else through it.
#   make report       set up, then the tutorial notebooks on the networks shipped trained with
#                     the kit -> reports/tutorial/ (minutes; REPORT_ARGS=--retrain trains them)
#   make report-quick every notebook with tiny untrained networks (checks the plumbing)
#   make report-full  the real experiments -> reports/full/
#   make checkpoints  export the tutorial's networks from the full run's cache into
#                     wsss_lib/checkpoints/ (after make report-full)
#   make test         set up (+ Chromium for the browser test), then the test suite
#   make lint         ruff
#   make notebooks    notebooks/NN_name.py sources -> NN_name.ipynb, without outputs
#                     (CONTRIBUTING.md; `make notebooks CHECK=1` only checks)
#   make clean        remove reports and caches (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; pyproject.toml newer than it triggers a reinstall.
STAMP := $(VENV)/.wsss-installed
PYTEST_ARGS ?= -q
# Extra options for the report, e.g. make report REPORT_ARGS="--jobs 2 --force"
REPORT_ARGS ?=

.PHONY: setup report report-quick report-full checkpoints test test-deps lint notebooks clean distclean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

report: setup
	$(BIN)/wsss report --profile tutorial --jobs 2 $(REPORT_ARGS)

report-quick: setup
	$(BIN)/wsss report --profile quick $(REPORT_ARGS)

# The full report, then its numbers into docs/results/full/ and the README's results tables.
# Four notebooks at a time, one CPU thread each: notebooks 02-04 wait on each other's models
# (file locks), and a waiting kernel leaves its core to the others (see README, Run time).
FULL_JOBS ?= 4
report-full: setup
	$(BIN)/wsss report --profile full --jobs $(FULL_JOBS) $(REPORT_ARGS)
	$(BIN)/python scripts/collect_results.py reports/full docs/results/full --readme README.md

# The seed-0 networks the tutorial report reads, from the cache that make report-full filled.
checkpoints: setup
	$(BIN)/python scripts/export_checkpoints.py --profile tutorial

# Chromium for the real-browser widget test; only attempted as root with apt, never fatal
# (without it that test is skipped).
test-deps:
	@if command -v chromium >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium for the browser test (apt-get)..."; \
		( DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
		  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } ) \
		|| echo "warning: could not install chromium; the browser test will be skipped"; \
	else \
		echo "note: chromium not found; the browser test will be skipped"; \
	fi

test: setup test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

# The .ipynb of every notebooks/NN_name.py source (jupytext percent format), outputs stripped.
notebooks: setup
	$(BIN)/python scripts/sync_notebooks.py $(if $(CHECK),--check)

clean:
	rm -rf reports build dist .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

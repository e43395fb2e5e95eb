# Transformer from Scratch: `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup lab test test-lib test-notebooks test-editions test-browser lint outputs bench clean \
	student slides html

# Set-up: the course environment in .venv (torch 2.13.0 is the CPU wheel on Linux).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	MPLBACKEND= $(BIN)/python -c "import matplotlib.pyplot as plt; import course_lib"
	touch $(STAMP)

setup: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests bench tools notebooks

test-lib: $(STAMP)
	$(BIN)/python -m pytest tests -q --ignore=tests/editions

test-notebooks: $(STAMP)
	@if [ -n "$(NOTEBOOKS)" ]; then \
	  env -u MPLBACKEND $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with=notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600 --durations=5 $(NOTEBOOKS); \
	else echo "no notebooks yet"; fi

# The student, slides and HTML editions, built and checked (the student notebooks are executed in full).
test-editions: $(STAMP)
	env -u MPLBACKEND $(BIN)/python -m pytest tests/editions -q --durations=0

# JupyterLab in headless Chromium (Debian's, installed with apt-get when missing and run as root): run 03,
# move a slider, check the plot is redrawn, screenshot in build/browser/. Skips (one line) with no chromium.
test-browser: $(STAMP)
	@if [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null 2>&1; then \
	  mkdir -p build/browser; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    >build/browser/apt-get.log 2>&1 || echo "note: apt-get could not install chromium (build/browser/apt-get.log)"; \
	fi
	@env -u MPLBACKEND $(BIN)/python tools/browser_check.py notebooks/03_attention.ipynb --slider d_k \
	  --screenshot build/browser/03_attention.png

test: lint test-lib test-notebooks test-editions test-browser

# Student handouts (no solutions, no outputs), reveal.js decks, and the executed HTML edition, under build/.
REVEAL_PREFIX ?=
student: $(STAMP)
	$(BIN)/python tools/editions.py student --out build/student $(NOTEBOOKS)

slides: $(STAMP)
	$(BIN)/python tools/editions.py slides --out build/slides $(if $(REVEAL_PREFIX),--reveal-prefix $(REVEAL_PREFIX)) \
	  $(NOTEBOOKS)

html: $(STAMP)
	env -u MPLBACKEND $(BIN)/python tools/editions.py html --out build/html $(NOTEBOOKS)

# Re-execute every notebook in place and strip volatile metadata, keeping outputs and counts.
outputs: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	  env -u MPLBACKEND $(BIN)/python tools/execute.py "$$nb" && \
	  $(BIN)/nbstripout --keep-output --keep-count "$$nb" || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python bench/step_time.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

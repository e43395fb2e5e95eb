# Transformer from Scratch: `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup lab test test-lib test-notebooks test-portability test-portability-avx2 test-portability-default \
	test-editions test-browser lint outputs bench clean student slides html

# The notebooks that train: they are run again on the kernel paths of other CPUs (see test-portability).
TRAINING_NOTEBOOKS := notebooks/10_transformer.ipynb notebooks/11_mla.ipynb notebooks/12_translator.ipynb
# Strict nbval. The slowest cell (12's training, 96 s on one quiet thread) has over 6x that before it times out.
NBVAL := env -u MPLBACKEND $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	--nbval-sanitize-with=notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600

# Set-up: the course environment in .venv (torch 2.13.0: the CPU wheel on the course's machines; README for others).
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
	$(NBVAL) --durations=5 $(NOTEBOOKS)

# Stored outputs must hold on any CPU: the training notebooks again, as on a laptop without AVX-512 (avx2) and on
# the plainest kernels with MKL's reproducible mode (default + COMPATIBLE); harmless where a CPU lacks either. The
# avx2 run unsets MKL_CBWR, as such a laptop has it, whatever the caller's environment sets. Each
# run works on its own copy (build/portability-*/notebooks), so what 12 writes to ../build is its own.
test-portability: test-portability-avx2 test-portability-default

test-portability-avx2: KERNELS := env -u MKL_CBWR ATEN_CPU_CAPABILITY=avx2
test-portability-default: KERNELS := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE
test-portability-avx2 test-portability-default: test-portability-%: $(STAMP)
	rm -rf build/portability-$* && mkdir -p build/portability-$*/notebooks
	cp $(TRAINING_NOTEBOOKS) notebooks/nbval_sanitize.cfg build/portability-$*/notebooks/
	cd build/portability-$* && $(KERNELS) env -u MPLBACKEND $(CURDIR)/$(BIN)/python -m pytest -q -p no:cacheprovider \
	  --rootdir=. --nbval --nbval-current-env --nbval-sanitize-with=notebooks/nbval_sanitize.cfg \
	  --nbval-cell-timeout=600 $(addprefix notebooks/,$(notdir $(TRAINING_NOTEBOOKS)))

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

# Everything, two jobs at a time (the notebooks run on one thread each); each job's log is printed whole.
test: $(STAMP)
	$(MAKE) -j2 --output-sync=target lint test-lib test-notebooks test-portability-avx2 test-portability-default \
	  test-editions test-browser

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

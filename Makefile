# The two commands of the README: `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's Chromium, for the browser check of the built book (installed when missing).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: book test unit notebooks html lab bench claims clean venv browser

venv: $(STAMP)

# (Re)install only when the pinned environment or the package metadata changed.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

## make book: create the environment, execute every chapter once, build _build/html.
book: venv
	$(PY) -m mmc_utils.booktools execute
	$(PY) -m mmc_utils.booktools build
	@echo "Open file://$(CURDIR)/_build/html/index.html"

## make test: unit tests, every chapter through papermill with claims enforced, strict HTML build,
## every page checked in headless Chromium.
test: venv $(CHROMIUM)
	MMC_STRICT_CLAIMS=1 $(PY) -m pytest -q --durations=8 tests
	$(PY) -m mmc_utils.booktools build --strict
	$(MAKE) --no-print-directory browser
	@echo "Open file://$(CURDIR)/_build/html/index.html"

## make browser: open every page of _build/html in headless Chromium (images, links, console);
## full-page screenshots go to _build/screenshots.
browser: venv $(CHROMIUM)
	$(PY) -m mmc_utils.browser_check _build/html --screenshots _build/screenshots

## make claims: every chapter at book scale for seeds 0-3; prints each claim per seed and
## records the table in tests/claims_by_seed.md (fails if any claim fails for any seed).
claims: venv
	$(PY) -m mmc_utils.seedcheck --seeds 0 1 2 3 --out tests/claims_by_seed.md

## make unit: the unit tests only (no chapters).
unit: venv
	$(PY) -m pytest -q tests -m "not notebooks"

## make lab: JupyterLab on the book's notebooks.
lab: venv
	$(VENV)/bin/jupyter lab book/

## make bench: CPU benchmarks (prints ratios against baselines measured in the same run).
bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

## make paper: the whole Table 1 grid at paper scale (VGG-13, 32x32, 100 epochs; p 0.6-0.9 x 3 seeds) on
## one CUDA GPU; refuses to run without one. Estimated 14 min on an H100 (benchmarks/RESULTS.md); an
## interrupted run resumes from the checkpoint cache. PAPER_ARGS="--compile reduce-overhead" etc. pass through.
.PHONY: paper paper-bench
paper: venv
	MMC_SCALE=paper $(PY) -m mmc_utils.reproduce --scale paper --out _build/paper/table1.json $(PAPER_ARGS)

## make paper-bench: paper-scale training speed on the GPU, fast path vs the reference pipeline.
paper-bench: venv
	$(PY) benchmarks/paper_scale.py --json _build/paper/paper_scale.json

clean:
	rm -rf _build

# The two commands of the README: `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's Chromium, for the browser check of the built book (installed when missing).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# The JavaScript the pages load, from the npm registry at pinned versions into the staged book's
# html_static_path (git-ignored), so that the book works offline: the ipywidgets HTML manager and
# require.js (see nb_ipywidgets_js in _config.yml) and MathJax 3 (mathjax_path in _config.yml).
VENDOR := _build/executed/_vendor
WIDGETS_JS := $(VENDOR)/widgets
MATHJAX_JS := $(VENDOR)/mathjax
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15
REQUIREJS := requirejs@2.3.8
MATHJAX := mathjax@3.2.2

.PHONY: book book-student test unit notebooks html lab bench claims clean venv browser widgets-js mathjax-js vendor-js

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

vendor-js: widgets-js mathjax-js

widgets-js: $(WIDGETS_JS)/embed-amd.js

mathjax-js: $(MATHJAX_JS)/tex-mml-chtml.js

# MathJax's combined TeX/MathML + CommonHTML component, the extensions and accessibility modules it
# loads on demand, and its web fonts (the speech rule engine, sre/, is only for the explorer).
$(MATHJAX_JS)/tex-mml-chtml.js:
	rm -rf $(MATHJAX_JS) _build/npm-mathjax && mkdir -p $(MATHJAX_JS) _build/npm-mathjax
	cd _build/npm-mathjax && npm pack --silent $(MATHJAX) >/dev/null
	tar -xzf _build/npm-mathjax/mathjax-*.tgz -C $(MATHJAX_JS) --strip-components=2 --wildcards \
		package/es5/tex-mml-chtml.js 'package/es5/input/*' 'package/es5/output/chtml/*' 'package/es5/a11y/*' \
		'package/es5/ui/*' 'package/es5/adaptors/*'
	tar -xzf _build/npm-mathjax/mathjax-*.tgz -C $(MATHJAX_JS) --strip-components=1 package/LICENSE
	rm -rf _build/npm-mathjax

$(WIDGETS_JS)/embed-amd.js:
	rm -rf $(WIDGETS_JS) _build/npm && mkdir -p $(WIDGETS_JS) _build/npm
	cd _build/npm && npm pack --silent $(HTML_MANAGER) $(REQUIREJS) >/dev/null
	tar -xzf _build/npm/requirejs-*.tgz -C $(WIDGETS_JS) --strip-components=1 package/require.js
	tar -xzf _build/npm/jupyter-widgets-html-manager-*.tgz -C $(WIDGETS_JS) --strip-components=2 --wildcards \
		package/dist/embed-amd.js package/dist/embed.js.LICENSE.txt 'package/dist/*.woff*' \
		'package/dist/*.ttf' 'package/dist/*.eot' 'package/dist/*.svg'
	rm -rf _build/npm

## make book: create the environment, execute every chapter once, build _build/html.
book: venv vendor-js
	$(PY) -m booktools.book execute
	$(PY) -m booktools.book build
	@echo "Open file://$(CURDIR)/_build/html/index.html"

## make book-student: the same book with the exercises' solutions left out (booktools/student.py;
## sphinx-exercise's hide_solutions misses gated solutions), from the chapters `make book` executed, into _build/student.
book-student: venv vendor-js
	@test -n "$$(ls _build/executed/book/*.ipynb 2>/dev/null)" || $(PY) -m booktools.book execute
	$(PY) -m booktools.book build --student
	@echo "Open file://$(CURDIR)/_build/student/_build/html/index.html"

## make test: unit tests, every chapter through papermill with claims enforced, strict HTML build,
## every page checked in headless Chromium.
test: venv $(CHROMIUM) vendor-js
	MMC_STRICT_CLAIMS=1 $(PY) -m pytest -q --durations=8 tests
	$(PY) -m booktools.book build --strict
	$(MAKE) --no-print-directory browser
	@echo "Open file://$(CURDIR)/_build/html/index.html"

## make browser: open every page of _build/html in headless Chromium (images, links, console);
## full-page screenshots go to _build/screenshots.
browser: venv $(CHROMIUM)
	$(PY) -m booktools.browser_check _build/html --screenshots _build/screenshots

## make claims: every chapter at book scale for seeds 0-5; prints each claim per seed and
## records the table in tests/claims_by_seed.md (fails if any claim fails for any seed).
claims: venv
	$(PY) -m booktools.seedcheck --seeds 0 1 2 3 4 5 --out tests/claims_by_seed.md

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

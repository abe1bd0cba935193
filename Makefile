# Every target sets itself up on a fresh clone: the venv and its packages are (re)installed
# whenever pyproject.toml or this Makefile changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch lies on these machines' disk; a plain `torch` requirement would
# download a multi-GB CUDA build, so the dev install pins it (the package's extra stays open).
TORCH_PIN := torch==2.13.0

.PHONY: install test lint typecheck unit docs test-stress demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev,docs,numpy,pandas,redis,plot]' $(TORCH_PIN)
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src

unit: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site
	@# Opened from disk, links must name files and search must not need a server.
	@grep -q 'href="caches.html"' site/index.html && test -s site/search/search_index.js \
		&& grep -q 'memcache_kit.Cache' site/api.html \
		|| { echo "docs: site/ does not work opened from disk (see mkdocs.yml)"; exit 1; }

test: lint typecheck unit docs

test-stress: $(STAMP)
	$(PY) -m pytest -q -m stress 

demo: $(STAMP)
	$(PY) -m memcache_kit demo

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis

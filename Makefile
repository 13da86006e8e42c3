# Two commands: `make docs` builds the site, `make test` runs every test.
# Both create .venv when it is missing and install the project into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SPHINX := $(BIN)/sphinx-build -W -n -q -c . docs

.PHONY: docs serve test linkcheck conformance-envs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The docs need the package, Sphinx and matplotlib: no torch.
$(VENV)/.docs-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[docs]"
	touch $@

# torch first, pinned, so that pip takes the CPU build and never a multi-GB CUDA one.
$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[docs,train,test,ray]"
	touch $@

docs: $(VENV)/.docs-installed
	$(SPHINX) _build/html
	@echo ""
	@echo "The site is in _build/html (open _build/html/index.html),"
	@echo "or serve it with: make serve   (http://127.0.0.1:8000)"

serve: docs
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

# Every internal link and cross-reference resolves (external URLs are not checked: no network).
linkcheck: docs
	DOCS_SKIP_GENERATE=1 $(SPHINX) -b linkcheck -D linkcheck_ignore='https?://.*' _build/linkcheck

# VeRL and OpenRLHF pin other transformers versions: their loaders get environments of their own.
conformance-envs: $(VENV)/.test-installed
	bash tests/conformance/setup_envs.sh

test: $(VENV)/.test-installed docs linkcheck conformance-envs
	$(BIN)/python -m pytest

clean:
	rm -rf _build docs/apidocs docs/_generated

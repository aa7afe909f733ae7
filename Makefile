# The two commands of the README: `make demo` (the main job) and `make test` (the full suite,
# what CI runs); `make test-fast` skips the tests marked slow.
# Both create .venv in the checkout and install digitseq with its test extras on first use;
# running them again reuses it (reinstalled when setup.py changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-digitseq
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

FONTS ?= fonts

.PHONY: demo test test-fast lint format install clean fonts

install: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digitseq demo --out $(DEMO_OUT)

test: lint
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

# ruff: the lint rules and the formatting of ruff.toml (`make format` applies both fixes).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The subset for development: everything but the tests marked slow (end-to-end jobs, training).
test-fast: lint
	$(BIN)/python -m pytest tests -m "not slow" $(PYTEST_ARGS)

# The handwriting font families `digitseq render --fonts` may train on, from npm's @fontsource
# packages (needs npm and the registry; nothing else does).
fonts:
	$(PYTHON) tools/fetch_fonts.py --out $(FONTS)

clean:
	rm -rf $(VENV) runs build dist *.egg-info

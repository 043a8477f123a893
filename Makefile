# Two commands do all set-up on a fresh machine with Python 3.11:
#   make run    create .venv, install core + bundled plugins, run `egbench run` on the embedded default
#               (the NequIP environment only when MODELS names one of its models, or all)
#   make test   the same set-up and the NequIP environment, then the test suite (what CI runs, via .ci/run)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of PyTorch that lies on this machine's disk; users on GPUs bring their own torch.
TORCH_PIN ?= torch==2.13.0
# Plugins whose dependencies conflict with the main environment's (nequip needs e3nn>=0.6,
# mace-torch pins e3nn 0.4.4) get their own environment, made by egbench itself (envs.py's
# BUNDLED_ENVIRONMENTS names the same three); every other bundled plugin goes into the main one.
ENV_NEQUIP := $(VENV)/egbench-envs/nequip
ENV_PLUGINS := plugins/egbench-model-nequip plugins/egbench-model-allegro plugins/egbench-model-sevennet
ENV_MODELS := $(patsubst plugins/egbench-model-%,%,$(ENV_PLUGINS))
PLUGINS := $(filter-out $(ENV_PLUGINS),$(patsubst %/pyproject.toml,%,$(wildcard plugins/egbench-*/pyproject.toml)))

.PHONY: setup run lint test clean

$(BIN)/.egbench-installed: pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet "$(TORCH_PIN)" -e ".[test,dask,xtb]" $(addprefix -e ,$(PLUGINS))
	touch $@

$(ENV_NEQUIP)/.installed: $(BIN)/.egbench-installed $(addsuffix /pyproject.toml,$(ENV_PLUGINS))
	EGBENCH_ENVS_DIR=$(abspath $(VENV))/egbench-envs $(BIN)/egbench env create nequip $(ENV_PLUGINS)
	$(ENV_NEQUIP)/venv/bin/pip install --quiet "$(TORCH_PIN)" pytest
	touch $@

setup: $(BIN)/.egbench-installed $(ENV_NEQUIP)/.installed

# The quick start trains one architecture (a few minutes on 2 CPU cores); `make run MODELS=all`
# runs every model (a few minutes per model at the quick preset). The NequIP environment is built
# only when MODELS names one of its models (nequip, allegro, sevennet-*), or all.
MODELS ?= mace
comma := ,
run: $(BIN)/.egbench-installed $(if $(filter all $(ENV_MODELS) $(addsuffix -%,$(ENV_MODELS)),$(subst $(comma), ,$(MODELS))),$(ENV_NEQUIP)/.installed)
	$(BIN)/egbench run --models $(MODELS)

# The habits: ruff (lint + format, settings in pyproject.toml) over the repository, mypy on core.
lint: $(BIN)/.egbench-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	EGBENCH_DATA_MIRROR=$${EGBENCH_DATA_MIRROR:-$(abspath ../shared/data)} $(BIN)/python -m pytest -q --durations=15 tests $(addsuffix /tests,$(PLUGINS)) plugins/_template/tests plugins/_template_data/tests plugins/_template_task/tests plugins/_template_metric/tests plugins/_template_oracle/tests
	$(ENV_NEQUIP)/venv/bin/python -m pytest -q $(addsuffix /tests,$(ENV_PLUGINS))

clean:
	rm -rf $(VENV) egbench-results

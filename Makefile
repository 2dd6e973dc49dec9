# The two commands a newcomer types: `make quickstart` and `make test`.
# Each creates .venv when it is missing and installs the package once (again only when
# pyproject.toml changes), then runs. Everything runs offline.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
OUT ?= runs/quickstart
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: quickstart test test-e2e bench mutation setup clean

setup: $(STAMP)

# The scale extra (Ray, a PostgreSQL driver) is installed so the predict-corpus and shared-study tests run.
# torch is named at its exact CPU version next to the package: pip then takes the CPU
# build from local disk instead of resolving the open range to a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "setting up $(VENV) (first time only; a few minutes)"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q "torch==2.13.0" -e ".[dev,scale]"
	@touch $(STAMP)

# --overwrite: the quickstart is a demonstration, so running it again replaces its own earlier run
# (multinerd refuses to replace a finished run without it).
quickstart: $(STAMP)
	$(VENV)/bin/multinerd run --config configs/quickstart.yaml --output $(OUT) --overwrite

# make test: every test but the end-to-end ones that run several processes (kill and resume,
# torchrun, workers sharing a study), under 10 minutes on 2 cores. make test-e2e runs those;
# CI (.ci/run) runs both. `pytest` alone runs everything.
test: $(STAMP)
	$(PY) -m pytest -m "not e2e"

test-e2e: $(STAMP)
	$(PY) -m pytest -m e2e

bench: $(STAMP)
	$(PY) bench/run_all.py

# Mutation testing of the scorer (labels, schemes, scoring), not part of `make test`: 10-25 min on
# 2 cores. Settings in pyproject.toml [tool.mutmut]; results in bench/results/mutation.json.
mutation: $(STAMP)
	@$(PY) -c "import mutmut" 2>/dev/null || $(PY) -m pip install -q "mutmut==3.8.1"
	rm -rf mutants
	$(PY) bench/mutation.py --run

clean:
	rm -rf runs .pytest_cache

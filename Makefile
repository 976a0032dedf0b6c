# The two entry points a newcomer needs: `make generate` and `make test`.
# Both (re)create .venv from the pinned lock file when it is missing or older than the lock.

PYTHON ?= python3.12
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: generate check test test-gpu typecheck fuzz demo bench clean-venv

generate: $(STAMP)
	$(PY) -m generator generate

check: $(STAMP)
	$(PY) -m generator generate --check

typecheck: $(STAMP)
	$(PY) -m pyright generator generated examples bench

test: $(STAMP)
	$(PY) -m pytest

# GPU parity (skips with a stated reason where no CUDA device is present).
test-gpu: $(STAMP)
	$(PY) -m pytest -m gpu tests

# Property-based fuzzing: 10,000 mutated descriptions (seeded, one shard per CPU); each must end
# in generated code that passes pyright strict or in a located error. Exit 1 on any defect.
fuzz: $(STAMP)
	$(PY) -m tests.fuzz --inputs 10000

# Train a small HybridModel from the generated TE-free hybrid spec on the CPU; writes the loss curve.
demo: $(STAMP)
	$(PY) -W ignore::UserWarning -m demo.train_hybrid --out docs/demo-loss.png

# The generator's and the typed specs' costs against their floors; rewrites README's bench table.
bench: $(STAMP)
	$(PY) -m bench --readme

$(STAMP): requirements/lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "need Python 3.12, got " + sys.version' \
		|| { echo "Python 3.12 is required: set PYTHON=/path/to/python3.12"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements/lock.txt
	$(PY) -m pip check
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# The two commands of the README: `make report` (the main job) and `make test`.
# Both do all set-up on a fresh Debian machine: system packages, a virtualenv, the package.
# `make report` writes under the git-ignored out/kernel/; `make publish` renders the same job into the
# committed reports/published/ (a snapshot published on purpose: review and commit it).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup report publish test lint clean

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	$(BIN)/splicecheck report-kernel

publish: $(STAMP)
	$(BIN)/splicecheck report-kernel --publish

# The committed kernel matrix (reports/published/kernels/): this machine's kernel and a Debian 6.1 kernel booted
# in a virtual machine (docs/KERNELS.md; root, QEMU; 4-15 min under emulation). Not part of `make report`.
.PHONY: publish-kernels
publish-kernels: $(STAMP)
	BIN=$(BIN) bash scripts/publish-kernels.sh $(KERNEL_ABI)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) build *.egg-info out

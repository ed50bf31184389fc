# Store Platform: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-unit lint format dev-cluster dev-cluster-down control-plane bench clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

## Start the portal on SQLite against the current kubeconfig context.
run: venv
	$(VENV)/bin/streamlit run asgi.py --server.port $(PORT)

## Set up everything (venv, PostgreSQL, Chromium, the Kubernetes control plane) and run every test.
test: venv control-plane
	./scripts/install-test-deps.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

## Fast tests only: no control plane, PostgreSQL or browser.
test-unit: venv
	$(PY) -m pytest -m "not cluster and not postgres and not browser" $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

## Build (or reuse the cached) etcd, kube-apiserver, controller-manager, scheduler, kwok, kubectl, helm.
control-plane:
	./tools/k8s/build.sh

## A local control plane for manual use; the last line printed is KUBECONFIG=<path>.
dev-cluster: venv control-plane
	@$(PY) -m tests.harness up

dev-cluster-down: venv
	@$(PY) -m tests.harness down

## Benchmarks (after `make test` has built the control plane); writes bench/results/latest.json.
bench: venv control-plane
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache store_platform.db .local

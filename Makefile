# Store Platform: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: test-images run test test-fast test-unit test-group real-node lint format dev-cluster dev-cluster-down control-plane store-software s3-server test-deps bench bench-api clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

## Start the portal on SQLite: on your kubeconfig's current context when you have one,
## else on the built-in cluster (started here, stopped with the portal; the first start
## builds it, about 20 minutes on 2 cores). EMBEDDED_CLUSTER=false turns that off.
run: venv
	$(PY) -m tools.run_portal --port $(PORT)

# Where `make test` notes how long each phase took (name<TAB>seconds); the pytest plugin
# tests/shared/report.py prints it with the tests' time by group at the end of the run.
PHASES ?= .local/test-phases.tsv
export STORE_PLATFORM_PHASES := $(abspath $(PHASES))
# $(call timed,<phase>,<command>): run the command, append its wall time to $(PHASES).
timed = ( s=$$EPOCHREALTIME; ( $(2) ); rc=$$?; \
	printf '%s\t%s\n' '$(1)' "$$(awk -v a=$$s -v b=$$EPOCHREALTIME 'BEGIN{printf "%.1f", b-a}')" >> $(PHASES); \
	exit $$rc )

# pytest-xdist workers for `make test`. Most heavy tests wait on a cluster, a server or a
# browser rather than compute, so more workers than cores pay; each worker has its own
# control plane and PostgreSQL, and the packages that share a session's servers (the real
# node, store software, backups, browser) run whole on one worker (tests/shared/scheduling.py).
TEST_WORKERS ?= 3

# What only some tests need (the real node's pieces, the S3 server, Medusa, the images) is
# built beside the tests by scripts/background-builds.sh, one exit code per build in
# $(BUILDS); the fixtures that need one wait for it, and its tests are scheduled last
# meanwhile (tests/shared/builds.py). On a warm machine every one is a cache hit.
BUILDS ?= .local/builds

## Set up everything (venv, PostgreSQL, Chromium, npm, the Kubernetes control plane, the
## real node, Medusa, the images) and run every test. Debian packages and the control plane
## build first, in parallel (apt waits on the network, go build on the CPU); the rest builds
## beside the tests. --durations=25 lists the slowest tests, and the last lines say which
## real components ran and where the time went.
test: venv
	@mkdir -p $(dir $(PHASES)) && : > $(PHASES) && rm -rf $(BUILDS) && mkdir -p $(BUILDS); \
	 $(call timed,install test deps,./scripts/install-test-deps.sh) & deps=$$!; \
	 $(call timed,control plane build,./tools/k8s/build.sh) & cp=$$!; \
	 wait $$deps || exit 1; \
	 PY=$(PY) ./scripts/background-builds.sh $(BUILDS) store & store=$$!; \
	 wait $$cp || exit 1; \
	 PY=$(PY) ./scripts/background-builds.sh $(BUILDS) go & go=$$!; \
	 $(call timed,lint,$(PY) -m ruff check . && $(PY) -m ruff format --check .) || exit 1; \
	 STORE_PLATFORM_BUILDS=$(abspath $(BUILDS)) \
	   $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS); rc=$$?; \
	 wait $$store; s=$$?; wait $$go; g=$$?; \
	 if [ $$s -ne 0 ] || [ $$g -ne 0 ]; then echo "make test: a build beside the tests failed: $(BUILDS)/*.log" >&2; \
	   [ $$rc -ne 0 ] || rc=1; fi; \
	 exit $$rc

## The edit-test loop (47 s on 2 idle cores): no control plane, PostgreSQL, browser, store software, real
## process, page rendering (AppTest), or any test with another heavy marker (see --fast in
## tests/conftest.py), spread over every core (pytest-xdist; each worker has its own databases).
test-fast: venv
	$(PY) -m pytest --fast -n auto -q --durations=5 $(PYTEST_ARGS)

## test-fast plus the page tests (Streamlit AppTest): everything that needs no server (66 s).
test-unit: venv
	$(PY) -m pytest --fast --pages -n auto -q --durations=5 $(PYTEST_ARGS)

## One marked group, with what it needs: `make test-group GROUP=browser` (cluster, postgres,
## browser, store_software, slow; or any -m expression: GROUP="cluster and not browser").
test-group: venv test-deps control-plane store-software
	$(PY) -m pytest -m "$(GROUP)" --durations=25 $(PYTEST_ARGS)

## PostgreSQL, Redis, npm, Chromium (apt; quick when present).
test-deps:
	./scripts/install-test-deps.sh

## The Medusa store server for tests/store_software (cached; tools/medusa/build.sh).
store-software: test-deps
	@if [ -x tools/medusa/build.sh ]; then ./tools/medusa/build.sh >/dev/null; fi

## The S3-compatible server (versitygw) for tests/backups (cached; tools/s3/build.sh).
s3-server:
	./tools/s3/build.sh

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

## The real test node: kubelet, kube-proxy, containerd, pause (cached; tools/node/build.sh),
## CoreDNS, kube-network-policies (NetworkPolicy enforcement), Traefik (ingress controller) and
## the images its tests run (cached; tools/images). Needs the control plane's Go module cache.
real-node: test-deps control-plane test-images
	./tools/node/build.sh
	./tools/node/coredns/build.sh
	./tools/node/netpol/build.sh
	./tools/node/traefik/build.sh

## Images the real-node tests run (cached; tools/images): stand-ins built from Debian
## packages, the platform image, and the Medusa store image (from the store-software build).
test-images: test-deps store-software
	$(PY) -m tools.images.build postgres-standin >/dev/null
	$(PY) -m tools.images.build platform >/dev/null
	$(PY) -m tools.images.build redis-standin >/dev/null
	$(PY) -m tools.images.build medusa-store >/dev/null


## Benchmarks (after `make test` has built the control plane); writes bench/results/latest.json.
bench: venv control-plane
	$(PY) -m bench

## The REST API benchmark alone (token vs Basic; no cluster needed).
bench-api: venv
	$(PY) -m bench --phases api

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache store_platform.db .local

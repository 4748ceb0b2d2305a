# The front door of the OMS suite: `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# The services that exist so far: the folders under services/ with a crate.
SERVICES := $(sort $(notdir $(patsubst %/Cargo.toml,%,$(wildcard services/*/Cargo.toml))))
K8S_OVERLAYS := dev prod

.PHONY: help deps build test fuzz lint fmt up down bench k8s

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

up: deps ## Start every service as a local process; returns when all are SERVING
	@scripts/up.sh $(SERVICES)

down: ## Stop what `make up` started, each draining its calls
	@scripts/down.sh

bench: ## Run the benchmarks
	$(CARGO) bench --workspace --locked

k8s: ## Render every k8s overlay into target/k8s/
	@mkdir -p target/k8s
	@for overlay in $(K8S_OVERLAYS); do \
		kubectl kustomize k8s/overlays/$$overlay > target/k8s/$$overlay.yaml || exit 1; \
		echo "k8s: rendered target/k8s/$$overlay.yaml"; \
	done

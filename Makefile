# gitdock: `make demo` runs the main job, `make test` all tests, on a fresh
# Debian 12 machine as root. Both install what they need (apt packages, npm
# dependencies, the private dockerd and registry of scripts/stack.sh).

SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.package-lock.json

.PHONY: help deps build stack stack-down test test-unit test-integration check lint typecheck schemas bench bench-fleet demo demo-down clean

help:
	@echo "make demo         set up everything; the agent runs examples/fleet on a local engine"
	@echo "make test         run all tests (unit + real-engine integration)"
	@echo "make test-unit    the fast loop: pure core, no engine"
	@echo "make check        build, typecheck, lint, all tests, schema drift"
	@echo "make bench        benchmarks against docker-compose and the docker CLI"
	@echo "make bench-fleet  the 16-host fleet bench on \`gitdock sim\` (root; RUNS=3 by default)"
	@echo "make stack-down   stop the private dockerd and registry"

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP)

build: deps
	npm run --silent build

stack:
	bash scripts/stack.sh up

stack-down:
	bash scripts/stack.sh down

test-unit: deps
	npx vitest run --project unit

test-integration: build stack
	npx vitest run --project integration

test: build stack
	npx vitest run

typecheck: deps
	npx tsc --noEmit -p tsconfig.json

lint: deps
	npx biome check src test bench scripts

schemas: deps
	npx tsx scripts/generate-schemas.ts

check: build typecheck lint test

bench: build stack
	npx tsx bench/apply.bench.ts
	npx tsx bench/agent.bench.ts
	npx tsx bench/compose.bench.ts

# The fleet bench: a 16-host `gitdock sim` against bare docker, bytes per
# host, the sim at idle, then 10 changed services against docker-compose
# (bench/README.md). Needs root. RUNS=N repeats (default 3); BENCH_ARGS adds
# options (e.g. BENCH_ARGS=--quick for a smoke run).
RUNS ?= 3
bench-fleet: build stack
	npx tsx bench/fleet.bench.ts $(if $(filter --quick,$(BENCH_ARGS)),,--runs $(RUNS)) $(BENCH_ARGS)

demo: build stack
	bash scripts/demo.sh

demo-down:
	bash scripts/demo.sh down

clean:
	rm -rf dist

# platform-host developer commands. Every target puts Node >= 22.22 first on PATH (installing
# Node 24 from the npm registry into a cache folder when the machine's node is older).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NODE := source scripts/node-toolchain.sh &&
CLI := node host/runtime/bin/platform-host.js
module ?=
args ?=
name ?=

.PHONY: help setup hooks env-file install build test test-unit test-impl test-integration test-e2e lint \
	pre-commit format run scaffold migrate migrate-up migrate-down migrate-status migrate-create schemas clean \
	demo demo-stream bench dq infra-up infra-down infra-reset

.DEFAULT_GOAL := help

help: ## This list: every target with what it does
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -u \
		| awk 'BEGIN {FS = ":.*## "} {printf "  make %-22s %s\n", $$1, $$2}'

# Servers `make setup` starts (infra-up INFRA=...): native by default, since env/local.env points at
# the native servers' ports; SETUP_INFRA=compose for the container stack, none for no servers.
SETUP_INFRA ?= native

setup: install build hooks env-file ## npm ci, build, pre-commit hook, env/local.env from its template when absent, native servers (SETUP_INFRA=native|compose|none)
	@if [ "$(SETUP_INFRA)" != none ]; then $(MAKE) --no-print-directory infra-up INFRA=$(SETUP_INFRA); fi

hooks: install ## Install the git pre-commit hook (simple-git-hooks; runs scripts/pre-commit.mjs --staged)
	@if [ -n "$${CI:-}" ]; then echo 'CI is set: no git hook installed'; \
	elif ! git rev-parse --git-dir >/dev/null 2>&1; then echo 'not a git work tree: no git hook installed'; \
	else $(NODE) npx simple-git-hooks; fi

env-file: ## Write env/local.env from env/local.env.example when it is absent (an existing one is kept)
	@if [ -f env/local.env ]; then echo 'env/local.env exists: kept'; \
	else cp env/local.env.example env/local.env && echo 'wrote env/local.env from env/local.env.example'; fi

install: node_modules/.installed ## npm ci (again only when package-lock.json changed)

# Reinstall only when the lockfile changed.
node_modules/.installed: package-lock.json
	$(NODE) npm ci
	@touch $@

build: install
	$(NODE) npm run build

demo: build env-file ## The newcomer demo: plugins list, then batch_etl on a sample partition (PGlite + local files)
	$(NODE) node scripts/demo.mjs

demo-stream: build env-file ## metric_aggregator on its own native PostgreSQL + Redis: publish a sample, drain it, print one hour of rollups
	$(NODE) bash scripts/demo-stream.sh

test: install ## All tests (integration tests skip without their servers unless PLATFORM_TEST_REQUIRE_INFRA=1)
	$(NODE) npm test

test-unit: install ## Unit tests on embedded adapters only
	$(NODE) npm run test:unit

test-impl: ## Implementation tests of the postgres and local adapters (needs DB_POSTGRES_URL)
	$(NODE) npm run build && npx mocha 'adapters/postgres/dist/**/*.test.js' 'adapters/fs-local/dist/**/*.test.js'

test-integration: ## Integration and end-to-end tests against real servers
	$(NODE) npm run test:integration

test-e2e: install ## End-to-end tests only (integration-tests/src/*-e2e.test.ts: the CLI and modules against real servers)
	$(NODE) npm run build && npx mocha 'integration-tests/dist/**/*-e2e.test.js'

lint: ## Type-aware eslint, prettier check, tsc
	$(NODE) npm run build && npx eslint . && npx prettier --check .

pre-commit: install ## The pre-commit checks on every tracked file, as .ci/run runs them (the hook checks staged files)
	$(NODE) node scripts/pre-commit.mjs --all

format: ## prettier --write on everything
	$(NODE) npx prettier --write .

run: env-file ## make run module=batch_etl args="--date 2026-01-15 --source-path raw/events"
	@test -n "$(module)" || { echo 'usage: make run module=<name> [args="..."]' >&2; exit 2; }
	$(NODE) $(CLI) run $(module) --env local $(args)

dq: build env-file ## Default data quality checks (plugins/data-quality/checks/default.yml): make dq [db=pglite] [args="--table cleaned_events"]
	$(NODE) $(CLI) run data_quality --db $(or $(db),postgres) --env local --checks plugins/data-quality/checks/default.yml $(args)

scaffold: ## make scaffold name=my_module [type=job|service|worker]
	@test -n "$(name)" || { echo 'usage: make scaffold name=<module_name> [type=job]' >&2; exit 2; }
	$(NODE) $(CLI) new module $(name) --type $(or $(type),job)

migrate: migrate-up ## Apply pending migrations (alias of migrate-up)

migrate-up: env-file ## Apply pending migrations: shared and every module's own ([db=postgres|pglite|cassandra])
	$(NODE) $(CLI) migrate up --db $(or $(db),postgres) --env local

migrate-down: env-file ## Roll back the latest migration ([db=...])
	$(NODE) $(CLI) migrate down --db $(or $(db),postgres) --env local

migrate-status: env-file ## Applied and pending migrations ([db=...])
	$(NODE) $(CLI) migrate status --db $(or $(db),postgres) --env local

migrate-create: ## make migrate-create name=<description>: a new numbered migration file
	@test -n "$(name)" || { echo 'usage: make migrate-create name=<description>' >&2; exit 2; }
	$(NODE) $(CLI) migrate create $(name) --db $(or $(db),postgres) --env local

schemas: ## Regenerate schemas/*.json from the zod manifest schemas
	$(NODE) npm run schemas

bench: ## Benchmarks (figures side by side with their reference)
	$(NODE) npm run build && node bench/cli-startup.mjs

clean: ## Remove build output (tsc -b --clean)
	$(NODE) npm run clean

-include deploy/native/native.mk
-include deploy/docker/docker.mk

# infra-up/down/reset (seed 16.1): the compose stack (deploy/docker) when a container engine is on
# PATH ($(DOCKER): docker, or DOCKER=podman), else the native servers (deploy/native/infra.sh, their
# env in $${PLATFORM_NATIVE_STATE:-/tmp/platform-native}/env). INFRA=compose or INFRA=native picks one.
INFRA ?= auto
INFRA_KIND := $(if $(filter auto,$(INFRA)),$(if $(shell command -v $(DOCKER) 2>/dev/null),compose,native),$(INFRA))

infra-up: ## Start the test servers: compose stack with a container engine, else the native ones (INFRA=auto|compose|native)
infra-down: ## Stop the test servers (data kept): compose stack or native servers, as infra-up picks
infra-reset: ## Stop the test servers, delete their data, start them again (compose or native, as infra-up picks)
ifeq ($(INFRA_KIND),compose)
infra-up: compose-up
infra-down: compose-down
infra-reset: compose-reset
else ifeq ($(INFRA_KIND),native)
infra-up:
	@echo 'infra-up: no container engine ($(DOCKER)) or INFRA=native: the native servers of deploy/native'
	bash $(NATIVE_INFRA) up $(NATIVE_SERVERS)
infra-down:
	bash $(NATIVE_INFRA) down $(NATIVE_SERVERS)
infra-reset:
	bash $(NATIVE_INFRA) clean $(NATIVE_SERVERS)
	bash $(NATIVE_INFRA) up $(NATIVE_SERVERS)
else
infra-up infra-down infra-reset:
	@echo 'INFRA=$(INFRA): use auto, compose or native' >&2; exit 2
endif

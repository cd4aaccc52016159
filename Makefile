# platform-host developer commands. Every target puts Node >= 22.22 first on PATH (installing
# Node 24 from the npm registry into a cache folder when the machine's node is older).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NODE := source scripts/node-toolchain.sh &&
CLI := node host/runtime/bin/platform-host.js
module ?=
args ?=
name ?=

.PHONY: setup install build test test-unit test-impl test-integration lint format run scaffold \
	migrate-up migrate-down migrate-status migrate-create schemas clean demo demo-stream bench dq

setup: install build ## Install dependencies and build everything

install: node_modules/.installed

# Reinstall only when the lockfile changed.
node_modules/.installed: package-lock.json
	$(NODE) npm ci
	@touch $@

build: install
	$(NODE) npm run build

demo: build ## The newcomer demo: plugins list, then batch_etl on a sample partition (PGlite + local files)
	$(NODE) node scripts/demo.mjs

demo-stream: build ## metric_aggregator on its own native PostgreSQL + Redis: publish a sample, drain it, print one hour of rollups
	$(NODE) bash scripts/demo-stream.sh

test: install ## All tests (integration tests skip without their servers unless PLATFORM_TEST_REQUIRE_INFRA=1)
	$(NODE) npm test

test-unit: install ## Unit tests on embedded adapters only
	$(NODE) npm run test:unit

test-impl: ## Implementation tests of the postgres and local adapters (needs DB_POSTGRES_URL)
	$(NODE) npm run build && npx mocha 'adapters/postgres/dist/**/*.test.js' 'adapters/fs-local/dist/**/*.test.js'

test-integration: ## Integration and end-to-end tests against real servers
	$(NODE) npm run test:integration

lint: ## Type-aware eslint, prettier check, tsc
	$(NODE) npm run build && npx eslint . && npx prettier --check .

format:
	$(NODE) npx prettier --write .

run: ## make run module=batch_etl args="--date 2026-01-15 --source-path raw/events"
	@test -n "$(module)" || { echo 'usage: make run module=<name> [args="..."]' >&2; exit 2; }
	$(NODE) $(CLI) run $(module) --env local $(args)

dq: build ## Default data quality checks (plugins/data-quality/checks/default.yml): make dq [db=pglite] [args="--table cleaned_events"]
	$(NODE) $(CLI) run data_quality --db $(or $(db),postgres) --env local --checks plugins/data-quality/checks/default.yml $(args)

scaffold: ## make scaffold name=my_module [type=job|service|worker]
	@test -n "$(name)" || { echo 'usage: make scaffold name=<module_name> [type=job]' >&2; exit 2; }
	$(NODE) $(CLI) new module $(name) --type $(or $(type),job)

migrate-up:
	$(NODE) $(CLI) migrate up --db $(or $(db),postgres) --env local

migrate-down:
	$(NODE) $(CLI) migrate down --db $(or $(db),postgres) --env local

migrate-status:
	$(NODE) $(CLI) migrate status --db $(or $(db),postgres) --env local

migrate-create:
	@test -n "$(name)" || { echo 'usage: make migrate-create name=<description>' >&2; exit 2; }
	$(NODE) $(CLI) migrate create $(name) --db $(or $(db),postgres) --env local

schemas: ## Regenerate schemas/*.json from the zod manifest schemas
	$(NODE) npm run schemas

bench: ## Benchmarks (figures side by side with their reference)
	$(NODE) npm run build && node bench/cli-startup.mjs

clean:
	$(NODE) npm run clean

-include deploy/native/native.mk
-include deploy/docker/docker.mk

# Container targets (seed 13.1, 16.1), included from the root Makefile:  -include deploy/docker/docker.mk
# They need a container engine with the compose plugin: Docker, or Podman with
# DOCKER=podman. The root Makefile's infra-up/down/reset run compose-up/down/reset when one is
# present, else the native servers of deploy/native.

DOCKER       ?= docker
COMPOSE_FILE := deploy/docker/docker-compose.yml
COMPOSE      := $(DOCKER) compose --file $(COMPOSE_FILE)
IMAGE        ?= platform-host:local
# One-shot services: `up --wait` would count their exit as a failure, so they run afterwards.
COMPOSE_ONE_SHOT := minio-init

.PHONY: compose-up compose-down compose-reset infra-status infra-logs infra-env docker-build docker-engine-check

docker-engine-check:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "'$(DOCKER)' not found: install Docker (or set DOCKER=podman), or use the native servers: make infra-up INFRA=native (make infra-native-up)" >&2; exit 2; }

compose-up: docker-engine-check ## Start PostgreSQL, Redis, Kafka, MinIO, Prometheus, Grafana and wait until healthy
	$(COMPOSE) up --detach --wait $$($(COMPOSE) config --services | grep -vxF '$(COMPOSE_ONE_SHOT)')
	$(COMPOSE) run --rm $(COMPOSE_ONE_SHOT)
	@echo 'infra up: Grafana http://localhost:3000, Prometheus http://localhost:9090, MinIO console http://localhost:9001'
	@echo 'point make run / make test at it:  eval "$$(make -s infra-env)"'

compose-down: docker-engine-check ## Stop the stack and the platform services (data kept in volumes)
	$(COMPOSE) --profile platform down --remove-orphans

compose-reset: docker-engine-check ## Stop the stack, delete its volumes, start it again
	$(COMPOSE) --profile platform down --remove-orphans --volumes
	$(MAKE) compose-up

infra-status: docker-engine-check ## Containers of the stack and their health
	$(COMPOSE) --profile platform ps --all

infra-logs: docker-engine-check ## Follow the logs of the stack (service=<name> for one)
	$(COMPOSE) logs --follow $(service)

infra-env: ## export lines that point adapters and tests at the compose stack
	@echo 'export DB_POSTGRES_URL=postgresql://postgres:postgres@127.0.0.1:5432/platform'
	@echo 'export CACHE_REDIS_URL=redis://127.0.0.1:6379/0'
	@echo 'export MQ_REDIS_STREAM_URL=redis://127.0.0.1:6379/1'
	@echo 'export MQ_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092'
	@echo 'export FS_MINIO_ENDPOINT=http://127.0.0.1:9000'
	@echo 'export FS_MINIO_ACCESS_KEY=minioadmin'
	@echo 'export FS_MINIO_SECRET_KEY=minioadmin'
	@echo 'export FS_MINIO_BUCKET=data-platform-lake'
	@echo 'export FS_S3_ENDPOINT=http://127.0.0.1:9000'
	@echo 'export FS_S3_REGION=us-east-1'
	@echo 'export FS_S3_ACCESS_KEY=minioadmin'
	@echo 'export FS_S3_SECRET_KEY=minioadmin'
	@echo 'export FS_S3_BUCKET=data-platform-lake'

docker-build: docker-engine-check ## Build the production image (IMAGE=platform-host:local)
	$(DOCKER) build --file deploy/docker/Dockerfile --tag $(IMAGE) .

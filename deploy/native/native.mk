# Throwaway native test servers (PostgreSQL, Redis, Kafka, Cassandra, MinIO, OpenBao)
# without Docker. Include from the root Makefile:  include deploy/native/native.mk
# Pick servers with NATIVE_SERVERS="postgres redis" (default: all six).

NATIVE_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
NATIVE_INFRA  := $(NATIVE_MK_DIR)/infra.sh
NATIVE_SERVERS ?=

.PHONY: infra-native-install infra-native-up infra-native-down infra-native-status infra-native-env infra-native-smoke infra-native-clean

infra-native-install: ## install/build the native test servers (cached)
	bash $(NATIVE_INFRA) install $(NATIVE_SERVERS)

infra-native-up: ## start the native test servers; env in $${PLATFORM_NATIVE_STATE:-/tmp/platform-native}/env
	bash $(NATIVE_INFRA) up $(NATIVE_SERVERS)

infra-native-down: ## stop the native test servers
	bash $(NATIVE_INFRA) down $(NATIVE_SERVERS)

infra-native-status: ## show whether each native test server answers
	bash $(NATIVE_INFRA) status $(NATIVE_SERVERS)

infra-native-env: ## print the KEY=value lines pointing adapters at the servers
	@bash $(NATIVE_INFRA) env $(NATIVE_SERVERS)

infra-native-smoke: ## round trip against each running server (psql, redis-cli, kcat, CQL, S3, bao)
	bash $(NATIVE_INFRA) smoke $(NATIVE_SERVERS)

infra-native-clean: ## stop the servers and delete their data and logs
	bash $(NATIVE_INFRA) clean $(NATIVE_SERVERS)

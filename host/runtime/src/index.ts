export { main, type CliIo } from './cli/main.js';
export { runModule, type RunModuleOptions } from './run/run-module.js';
export { prepareRun, ModuleRun, type PrepareRunOptions } from './run/prepare-run.js';
export { discoverPlugins, type DiscoveryOptions } from './discovery/discover.js';
export { buildRegistry, type PluginRegistry } from './discovery/registry.js';
export type { PluginRecord, ModuleRecord, AdapterRecord, PluginSource } from './discovery/plugin-record.js';
export { validateModuleArgs, requireValidArgs, createModuleConfig } from './args/module-args.js';
export { loadEnv } from './env/load-env.js';
export {
  MigrationRunner,
  discoverMigrations,
  moduleMigrationSet,
  sharedMigrationSet,
  trackingTableSql,
  SHARED_OWNER,
  type MigrationSet,
  type MigrationStatus,
  type CqlMigrationOptions,
} from './migrations/runner.js';
export { splitCqlStatements } from './migrations/cql-statements.js';
export { discoverCqlMigrations } from './migrations/cql-runner.js';
export { findProjectRoot } from './project/project-root.js';
export { HOST_API_VERSION } from '@platform-host/contracts';
export * from './observability/index.js';
export { redactingLogger } from './redaction/redacting-logger.js';
export { registerSecret, redactText, redactValue, isSecretFieldName, REDACTED } from './redaction/redact.js';
export { parseEnvFile } from './env/env-file.js';
export { createAdapterConfig } from './wiring/adapter-config.js';

/**
 * The version of the host API that plugins declare compatibility with in their manifest
 * (`host_api`, a semver range). Bumped in its major part whenever a contract changes incompatibly:
 * 2.0.0 revised MessageQueue (batches, partitions, rebalance hooks, dead letters), Metrics
 * (declared instruments), Cache, FileSystem, Database (dialects, streaming), the lifecycle and the
 * adapter factories (declared dependencies). 2.1.0 added `Lifecycle.tolerateUnhealthy` (an
 * interface whose failing check reports `degraded` instead of failing readiness) and the module
 * manifest's `exit_codes.unavailable` (the exit code of a run whose backend did not connect).
 * 2.2.0 added the module manifest's `messages` (the topics a module produces and consumes, with
 * the schema of each), the platform message schemas (platform event, dead letter),
 * `Database.batch` (logged/unlogged batches), `?` placeholders of the `cql` dialect,
 * `PH_ERR_DB_UNSUPPORTED` and the optional `Secrets.isSecret`. 2.3.0 added the optional
 * `QueueMessage.exclusiveUntil` (how long a delivery is this consumer's alone). 2.4.0 added the
 * optional `Secrets.attachLogger` (the platform logger handed to the secrets provider once it
 * exists), `PH_ERR_DB_TIMEOUT` with `isOutcomeUnknown` (a write whose outcome is unknown) and
 * `PendingDeadLetters` (dead letters a consumer keeps its recorded positions below until durable).
 * 2.5.0 added the optional `SubscribeOptions.onDeadLetter` (each dead letter a queue publishes on
 * its own, and whether it was published, so the host counts failed ones as it counts failed
 * `deadLetter` calls) and `MANIFEST_SCHEMA_IDS` (the `$schema` ids of manifests).
 */
export const HOST_API_VERSION = '2.5.0';

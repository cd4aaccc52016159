import type { DatabaseDialect } from '../interfaces/database.js';
import type { InterfaceName } from '../refs.js';

/** Types a module argument can be cast to (seed 3.3). */
export const ARG_TYPES = ['string', 'integer', 'float', 'boolean'] as const;
export type ArgType = (typeof ARG_TYPES)[number];

/**
 * Formats a string argument can be checked against before the module runs: `date` is a calendar
 * date `YYYY-MM-DD` that exists (`2026-02-30` does not), `date-time` an ISO-8601 timestamp with an
 * offset or `Z`, `duration` a number with a unit `ms`, `s`, `m`, `h` or `d` (`500ms`, `1.5h`, `7d`),
 * `relative-path` a path inside a root: not absolute, `/`-separated, no `..` segment, no NUL.
 */
export const ARG_FORMATS = ['date', 'date-time', 'duration', 'relative-path'] as const;
export type ArgFormat = (typeof ARG_FORMATS)[number];

/** Module kinds (seed 3.2). */
export const MODULE_TYPES = ['service', 'job', 'worker'] as const;
export type ModuleType = (typeof MODULE_TYPES)[number];

/** File names of the two manifest kinds. */
export const MANIFEST_FILES = { module: 'module.json', adapter: 'platform-adapter.json' } as const;

/**
 * The ids (`$id`) of the manifests' JSON Schemas, which a manifest names as its `$schema`. The files
 * ship in this package as `@platform-host/contracts/schemas/<kind>.schema.json`
 * ({@link MANIFEST_SCHEMA_FILES}), so an installed plugin's manifest names a schema that every
 * install of a plugin has (its contracts dependency), wherever npm put the packages; an id is not
 * a path, so it does not break when a package is packed, installed or moved.
 */
export const MANIFEST_SCHEMA_IDS = {
  module: 'https://platform-host.dev/schemas/module.schema.json',
  adapter: 'https://platform-host.dev/schemas/adapter.schema.json',
} as const;

/** The file names of the manifests' JSON Schemas under `schemas/` of this package (and of the repository). */
export const MANIFEST_SCHEMA_FILES = { module: 'module.schema.json', adapter: 'adapter.schema.json' } as const;

/** One argument of a module (seed 3.1), after defaults of the schema are applied. */
export interface ArgSpec {
  /** kebab-case; given as `--name` on the command line. */
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly type: ArgType;
  readonly default?: string | number | boolean | undefined;
  readonly choices?: ReadonlyArray<string | number> | undefined;
  /** Only for `string` arguments: a format the host checks (a mismatch is a usage error, exit 2). */
  readonly format?: ArgFormat | undefined;
  /** Only for `integer` and `float` arguments: the smallest value allowed (inclusive). */
  readonly min?: number | undefined;
  /** Only for `integer` and `float` arguments: the largest value allowed (inclusive). */
  readonly max?: number | undefined;
  /**
   * Only for `string` arguments: a regular expression (JavaScript syntax, `u` flag) the whole value
   * must match, such as an identifier rule.
   */
  readonly pattern?: string | undefined;
}

/** Formats a config key's value can be checked against when the adapter is configured. */
export const CONFIG_FORMATS = ['url', 'integer'] as const;
export type ConfigFormat = (typeof CONFIG_FORMATS)[number];

/** Folders of a module's own migrations, per dialect, relative to its manifest (DESIGN.md decision 12). */
export type ModuleMigrations = { readonly [D in DatabaseDialect]?: string | undefined };

/** The validated `module.json` descriptor (seed section 3, plus `entry` and `host_api`). */
export interface ModuleManifest {
  readonly $schema?: string | undefined;
  /** snake_case; `platform-host run <name>`. */
  readonly name: string;
  readonly display_name: string;
  readonly description: string;
  readonly type: ModuleType;
  readonly version: string;
  /** Semver range of host API versions the module works with. */
  readonly host_api: string;
  /** Compiled entry file relative to the manifest, e.g. `./dist/main.js`. */
  readonly entry: string;
  readonly dependencies: {
    readonly interfaces: readonly InterfaceName[];
    readonly modules: readonly string[];
  };
  readonly args: readonly ArgSpec[];
  /**
   * The database dialects the module's SQL is written for (default `["postgresql"]`); the host
   * refuses a `--db` adapter of another dialect at preflight.
   */
  readonly dialects: readonly DatabaseDialect[];
  /** The module's own migrations, per dialect; applied by `migrate up` and by auto-migrate for it. */
  readonly migrations?: ModuleMigrations | undefined;
  /** Exit codes of the module's own, beside the platform's 0 (success), 1 (failure) and 2 (usage). */
  readonly exit_codes: ModuleExitCodes;
  /**
   * The topics the module publishes to and reads from, each with the schema of its messages
   * (seed 10.4; host API 2.2.0). Shown by `plugins inspect`; `doctor` warns when a consumer's
   * schema does not accept what the producer of the same topic declares.
   */
  readonly messages?: ModuleMessages | undefined;
}

/** Ids of the message schemas the platform ships (`schemas/<id>.schema.json`). */
export const MESSAGE_SCHEMA_IDS = ['platform-event', 'dead-letter'] as const;
export type MessageSchemaId = (typeof MESSAGE_SCHEMA_IDS)[number];

/**
 * Which topic a message declaration is about:
 * - a plain name: `"events"`;
 * - `{ "arg": "topic" }`: whatever the module's `--topic` argument is (its default where the
 *   argument is not given);
 * - a template with `<arg>` placeholders, each replaced by that argument's value:
 *   `"<topic>.dead-letter"`.
 * Every argument named must be a string argument of the module.
 */
export type TopicRef = string | { readonly arg: string };

/** One topic a module produces or consumes, and the schema of its message values. */
export interface MessageDeclaration {
  readonly topic: TopicRef;
  /**
   * A platform schema id (`platform-event`, `dead-letter`; see `schemas/`), or the path of a JSON
   * Schema file of the module's own, relative to its manifest (`./schemas/consumed-event.schema.json`).
   */
  readonly schema: string;
  readonly description?: string | undefined;
}

/** A consumed topic: also the reasons the consumer dead-letters a message of it with. */
export interface ConsumedMessageDeclaration extends MessageDeclaration {
  /** The `reason` header values of its dead letters (snake_case), each documented in the module's README. */
  readonly dead_letter_reasons?: readonly string[] | undefined;
}

/** The `messages` of a module manifest. */
export interface ModuleMessages {
  readonly produces: readonly MessageDeclaration[];
  readonly consumes: readonly ConsumedMessageDeclaration[];
}

/** The `exit_codes` of a module manifest. */
export interface ModuleExitCodes {
  /**
   * The exit code when the run cannot start because a backend adapter did not connect
   * (`PH_ERR_CONNECT`, at startup or at auto-migrate), so that an orchestrator or a caller can tell
   * "the infrastructure was unavailable" from the module's own failure (1). 3 to 125; default 1.
   * data_quality uses 3: "a check could not be evaluated".
   */
  readonly unavailable?: number | undefined;
}

/** One configuration key an adapter reads through the Secrets interface. */
export interface ConfigKey {
  /** UPPER_SNAKE_CASE key, as environment variable / secret name. */
  readonly env: string;
  readonly description: string;
  readonly required: boolean;
  /** Never logged or printed; its value is redacted everywhere. */
  readonly secret: boolean;
  readonly default?: string | undefined;
  /** Only these flags of the adapter read the key (default: all). */
  readonly flags?: readonly string[] | undefined;
  /**
   * A format the host checks before the adapter is constructed (`url`: parses as a URL; `integer`:
   * a whole number). A mismatch is `PH_ERR_CONFIG_INVALID` naming the key, never the value.
   */
  readonly format?: ConfigFormat | undefined;
}

/** The validated `platform-adapter.json` descriptor of a backend adapter package. */
export interface AdapterManifest {
  readonly $schema?: string | undefined;
  /** kebab-case, unique among adapters. */
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly interface: InterfaceName;
  /** Flag values that select this adapter (`--db <flag>`). */
  readonly flags: readonly string[];
  readonly host_api: string;
  readonly entry: string;
  readonly config: readonly ConfigKey[];
  /** Database adapters only (required there): the dialect it speaks, checked before any code loads. */
  readonly dialect?: DatabaseDialect | undefined;
}

import { z } from 'zod';
import { DATABASE_DIALECTS } from '../interfaces/database.js';
import { INTERFACE_NAMES } from '../refs.js';
import {
  ARG_FORMATS,
  ARG_TYPES,
  CONFIG_FORMATS,
  MESSAGE_SCHEMA_IDS,
  MODULE_TYPES,
  type AdapterManifest,
  type ArgSpec,
  type ConfigKey,
  type ModuleManifest,
  type ModuleMessages,
} from './types.js';

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const semverString = z.string().regex(SEMVER, 'must be a semantic version such as 1.0.0');
const hostApiRange = z
  .string()
  .min(1)
  .describe('The range of host API versions this plugin works with (semver range, e.g. "^2.0.0").');
const migrationsFolder = z
  .string()
  .regex(/^\.\/[^\0]*$/, 'must be a relative folder path starting with ./')
  .describe('A folder of compiled migrations (NNN_description.js), relative to the manifest.');
const entryPath = z
  .string()
  .regex(/^\.\/[^\0]+\.(?:js|mjs)$/, 'must be a relative path to a .js or .mjs file, starting with ./')
  .describe('The compiled entry file, relative to the manifest.');

export const argSpecSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, 'must be kebab-case (lowercase letters, digits and single dashes)')
      .describe('Argument name, used as --name on the command line.'),
    description: z.string().min(1),
    required: z.boolean().default(false),
    type: z.enum(ARG_TYPES).default('string'),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    choices: z
      .array(z.union([z.string(), z.number()]))
      .min(1)
      .optional(),
    format: z
      .enum(ARG_FORMATS)
      .optional()
      .describe('A format the host checks before the module runs (string arguments only).'),
    min: z.number().optional().describe('Smallest allowed value, inclusive (integer and float arguments).'),
    max: z.number().optional().describe('Largest allowed value, inclusive (integer and float arguments).'),
    pattern: z
      .string()
      .min(1)
      .optional()
      .describe('A regular expression the whole value must match (string arguments; JavaScript syntax, u flag).'),
  })
  .superRefine((arg, ctx) => {
    const numeric = arg.type === 'integer' || arg.type === 'float';
    if (!numeric && (arg.min !== undefined || arg.max !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'only an integer or float argument can have min or max' });
    }
    if (arg.min !== undefined && arg.max !== undefined && arg.min > arg.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'max must not be below min' });
    }
    if (arg.pattern !== undefined) {
      if (arg.type !== 'string') {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'only a string argument can have a pattern' });
      } else {
        try {
          new RegExp(arg.pattern, 'u');
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            path: ['pattern'],
            message: `not a valid regular expression: ${(error as Error).message}`,
          });
        }
      }
    }
    if (typeof arg.default === 'number') {
      if ((arg.min !== undefined && arg.default < arg.min) || (arg.max !== undefined && arg.default > arg.max)) {
        ctx.addIssue({ code: 'custom', path: ['default'], message: 'default must be within min and max' });
      }
    }
    if (arg.format !== undefined && arg.type !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['format'], message: 'only a string argument can have a format' });
    }
    if (arg.required && arg.default !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: 'a required argument cannot have a default' });
    }
    const fits = (value: string | number | boolean): boolean =>
      arg.type === 'string'
        ? typeof value === 'string'
        : arg.type === 'boolean'
          ? typeof value === 'boolean'
          : arg.type === 'integer'
            ? typeof value === 'number' && Number.isInteger(value)
            : typeof value === 'number';
    if (arg.default !== undefined && !fits(arg.default)) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: `default must be of type ${arg.type}` });
    }
    if (arg.choices) {
      if (arg.type === 'boolean') {
        ctx.addIssue({ code: 'custom', path: ['choices'], message: 'a boolean argument cannot have choices' });
      }
      arg.choices.forEach((choice, index) => {
        if (!fits(choice))
          ctx.addIssue({ code: 'custom', path: ['choices', index], message: `choice must be of type ${arg.type}` });
      });
      if (arg.default !== undefined && typeof arg.default !== 'boolean' && !arg.choices.includes(arg.default)) {
        ctx.addIssue({ code: 'custom', path: ['default'], message: 'default must be one of the choices' });
      }
    }
  });

const ARG_PLACEHOLDER = /<([a-z][a-z0-9]*(?:-[a-z0-9]+)*)>/g;

const topicRefSchema = z.union([
  z
    .string()
    .regex(
      /^(?:[A-Za-z0-9._:-]|<[a-z][a-z0-9]*(?:-[a-z0-9]+)*>)+$/,
      'must be a topic name, or a template such as "<topic>.dead-letter" whose <name> is a module argument',
    )
    .describe('A topic name, or a template whose <name> placeholders are module arguments: "<topic>.dead-letter".'),
  z.strictObject({ arg: z.string().min(1).describe('A string argument of the module whose value is the topic.') }),
]);

const messageSchemaRef = z
  .string()
  .regex(
    new RegExp(`^(?:${MESSAGE_SCHEMA_IDS.join('|')}|\\./[^\\0]+\\.json)$`),
    `must be a platform message schema (${MESSAGE_SCHEMA_IDS.join(', ')}) or a ./path.json of the module's own`,
  )
  .describe(
    `A platform message schema id (${MESSAGE_SCHEMA_IDS.join(', ')}: schemas/<id>.schema.json) or the path of a JSON Schema file relative to the manifest.`,
  );

const messageDeclarationSchema = z.strictObject({
  topic: topicRefSchema,
  schema: messageSchemaRef,
  description: z.string().min(1).optional(),
});

/** The `messages` of a module manifest: the topics it produces and consumes, with their schemas. */
export const moduleMessagesSchema = z
  .strictObject({
    produces: z.array(messageDeclarationSchema).default([]),
    consumes: z
      .array(
        messageDeclarationSchema.extend({
          dead_letter_reasons: z
            .array(z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a snake_case word'))
            .min(1)
            .optional()
            .describe("The reason header values of the module's dead letters of this topic."),
        }),
      )
      .default([]),
  })
  .describe('Topics the module publishes to and reads from, each with the schema of its messages.');

/** The argument names a topic reference uses (`{arg}` or the `<name>` placeholders of a template). */
export function topicRefArguments(topic: string | { readonly arg: string }): string[] {
  return typeof topic === 'string' ? [...topic.matchAll(ARG_PLACEHOLDER)].map((match) => match[1] ?? '') : [topic.arg];
}

/** The `module.json` descriptor (seed section 3, plus `entry` and `host_api`). */
export const moduleManifestSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case (lowercase letters, digits, underscores)')
      .describe('Module name, as in `platform-host run <name>`.'),
    display_name: z.string().min(1),
    description: z.string().min(1),
    type: z.enum(MODULE_TYPES),
    version: semverString,
    host_api: hostApiRange,
    entry: entryPath,
    dependencies: z.strictObject({
      interfaces: z
        .array(z.enum(INTERFACE_NAMES))
        .refine((list) => new Set(list).size === list.length, 'must not repeat an interface'),
      modules: z.array(z.string()).default([]),
    }),
    args: z.array(argSpecSchema).default([]),
    dialects: z
      .array(z.enum(DATABASE_DIALECTS))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'must not repeat a dialect')
      .default(['postgresql'])
      .describe('The database dialects the module accepts (default ["postgresql"]).'),
    migrations: z
      .strictObject({ postgresql: migrationsFolder.optional(), cql: migrationsFolder.optional() })
      .optional()
      .describe("The module's own migrations per dialect, applied by migrate up and auto-migrate."),
    exit_codes: z
      .strictObject({
        unavailable: z
          .number()
          .int()
          .min(3)
          .max(125)
          .optional()
          .describe(
            'Exit code when the run cannot start because a backend did not connect (PH_ERR_CONNECT); default 1. ' +
              '0, 1 and 2 keep their platform meaning, so it is 3 to 125.',
          ),
      })
      .default({})
      .describe("Exit codes of the module's own, beside the platform's 0, 1 and 2."),
    messages: moduleMessagesSchema.optional(),
  })
  .superRefine((manifest, ctx) => {
    if (manifest.migrations && !manifest.dependencies.interfaces.includes('database')) {
      ctx.addIssue({
        code: 'custom',
        path: ['migrations'],
        message: 'migrations need "database" in dependencies.interfaces',
      });
    }
    for (const dialect of Object.keys(manifest.migrations ?? {})) {
      if (!manifest.dialects.includes(dialect as (typeof DATABASE_DIALECTS)[number])) {
        ctx.addIssue({
          code: 'custom',
          path: ['migrations', dialect],
          message: `migrations for ${dialect}, which is not in dialects (${manifest.dialects.join(', ')})`,
        });
      }
    }
    const seen = new Set<string>();
    manifest.args.forEach((arg, index) => {
      if (seen.has(arg.name))
        ctx.addIssue({ code: 'custom', path: ['args', index, 'name'], message: `duplicate argument "${arg.name}"` });
      seen.add(arg.name);
    });
    for (const direction of ['produces', 'consumes'] as const) {
      manifest.messages?.[direction].forEach((declaration, index) => {
        for (const name of topicRefArguments(declaration.topic)) {
          const arg = manifest.args.find((candidate) => candidate.name === name);
          if (arg === undefined || arg.type !== 'string') {
            ctx.addIssue({
              code: 'custom',
              path: ['messages', direction, index, 'topic'],
              message: `the topic refers to "${name}", which is not a string argument of the module`,
            });
          }
        }
      });
    }
  });

/** One configuration key an adapter reads through the Secrets interface. */
export const configKeySchema = z.strictObject({
  env: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/, 'must be an UPPER_SNAKE_CASE environment variable name')
    .describe('The key, as an environment variable / secret name.'),
  description: z.string().min(1),
  required: z.boolean().default(false),
  secret: z.boolean().default(false).describe('Never logged or printed; its value is redacted everywhere.'),
  default: z.string().optional(),
  flags: z.array(z.string()).min(1).optional().describe('Only these flags of the adapter read the key (default: all).'),
  format: z
    .enum(CONFIG_FORMATS)
    .optional()
    .describe('A format the host checks before the adapter is constructed; a mismatch names the key, never the value.'),
});

/** The `platform-adapter.json` descriptor of a backend adapter package. */
export const adapterManifestSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'must be kebab-case')
      .describe('Adapter name, unique among adapters.'),
    version: semverString,
    description: z.string().min(1),
    interface: z.enum(INTERFACE_NAMES),
    flags: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be kebab-case'))
      .min(1)
      .describe('The flag values that select this adapter (`--db <flag>`).'),
    host_api: hostApiRange,
    entry: entryPath,
    config: z.array(configKeySchema).default([]),
    dialect: z
      .enum(DATABASE_DIALECTS)
      .optional()
      .describe('Database adapters only (required there): the query dialect the adapter speaks.'),
  })
  .superRefine((manifest, ctx) => {
    if (manifest.interface === 'database' && manifest.dialect === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dialect'], message: 'a database adapter must declare its dialect' });
    }
    if (manifest.interface !== 'database' && manifest.dialect !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['dialect'], message: 'only a database adapter has a dialect' });
    }
    const flags = new Set<string>();
    manifest.flags.forEach((flag, index) => {
      if (flags.has(flag))
        ctx.addIssue({ code: 'custom', path: ['flags', index], message: `duplicate flag "${flag}"` });
      flags.add(flag);
    });
    const keys = new Set<string>();
    manifest.config.forEach((key, index) => {
      if (keys.has(key.env))
        ctx.addIssue({ code: 'custom', path: ['config', index, 'env'], message: `duplicate config key "${key.env}"` });
      keys.add(key.env);
      if (key.required && key.default !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['config', index, 'default'],
          message: 'a required key cannot have a default',
        });
      }
      key.flags?.forEach((flag, flagIndex) => {
        if (!flags.has(flag))
          ctx.addIssue({
            code: 'custom',
            path: ['config', index, 'flags', flagIndex],
            message: `"${flag}" is not one of this adapter's flags`,
          });
      });
    });
  });

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type DeepMutable<T> = T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
/** Compile-time proof that the schemas produce exactly the hand-written manifest types. */
export type SchemasMatchTypes = [
  Equals<z.output<typeof moduleManifestSchema>, DeepMutable<ModuleManifest>>,
  Equals<z.output<typeof adapterManifestSchema>, DeepMutable<AdapterManifest>>,
  Equals<z.output<typeof argSpecSchema>, DeepMutable<ArgSpec>>,
  Equals<z.output<typeof configKeySchema>, DeepMutable<ConfigKey>>,
  Equals<z.output<typeof moduleMessagesSchema>, DeepMutable<ModuleMessages>>,
] extends [true, true, true, true, true]
  ? true
  : never;
export const SCHEMAS_MATCH_TYPES: SchemasMatchTypes = true;

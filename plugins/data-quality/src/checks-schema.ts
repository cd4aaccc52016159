import { z } from 'zod';

/** Check types that measure one column (or the table, for `row_count`) in the table's one scan. */
export const SCAN_CHECK_TYPES = [
  'row_count',
  'missing_count',
  'missing_percent',
  'invalid_count',
  'invalid_percent',
  'freshness',
  'min',
  'max',
  'avg',
] as const;

/** Check types that run a query of their own. */
export const QUERY_CHECK_TYPES = ['duplicate_count', 'duplicate_percent', 'sql'] as const;

/** Every check type of the checks file. */
export const CHECK_TYPES = [...SCAN_CHECK_TYPES, ...QUERY_CHECK_TYPES] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

const IDENTIFIER = '[A-Za-z_][A-Za-z0-9_$]*';
/** `row_count`, `sql`, `type(column)` or `duplicate_count(a, b, c)`, as the key of a check. */
export const CHECK_KEY_PATTERN = new RegExp(
  String.raw`^(?:row_count|sql|(?:${CHECK_TYPES.filter((type) => type !== 'row_count' && type !== 'sql').join('|')})\(\s*${IDENTIFIER}(?:\s*,\s*${IDENTIFIER})*\s*\))$`,
);

const threshold = z
  .string()
  .min(1)
  .describe(
    'When the check warns or fails: < n, <= n, > n, >= n, = n, != n, between a and b, not between a and b. Freshness takes durations (30s, 15m, 6h, 7d).',
  );

/** The options of one check (which ones a check type takes is checked after parsing). */
export const checkOptionsSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Name of the check in the report and the history; default: its key (required for sql).'),
    severity: z
      .enum(['fail', 'warn'])
      .optional()
      .describe('The worst outcome of the check: with warn, meeting its fail threshold only warns. Default fail.'),
    warn: threshold.optional(),
    fail: threshold.optional(),
    valid_regex: z
      .string()
      .min(1)
      .optional()
      .describe('invalid_count / invalid_percent: a value is valid when its text matches this PostgreSQL regex.'),
    valid_values: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional()
      .describe('invalid_count / invalid_percent: a value is valid when its text is one of these.'),
    query: z
      .string()
      .min(1)
      .optional()
      .describe('sql: a read-only query returning one row whose first column is the observed number.'),
    samples: z
      .string()
      .min(1)
      .optional()
      .describe('sql: a read-only query returning the failed rows, kept up to --sample-size when the check fails.'),
  })
  .describe('Thresholds and options of one check.');

/** One check: a single key (`missing_percent(source)`, `sql`) holding its options. */
export const checkEntrySchema = z
  .record(z.string().regex(CHECK_KEY_PATTERN), checkOptionsSchema)
  .describe('One check: { "type(column)": { warn, fail, ... } }, exactly one key.');

/** The checks of one table, optionally over a filtered part of it. */
export const tableChecksSchema = z.strictObject({
  table: z.string().min(1).describe('table or schema.table'),
  filter: z
    .string()
    .min(1)
    .optional()
    .describe('An SQL condition applied to every check of this table (trusted configuration, run read-only).'),
  checks: z.array(checkEntrySchema).min(1),
});

/** A data_quality checks file (YAML), the source of `schemas/data-quality-checks.schema.json`. */
export const checksFileSchema = z.strictObject({
  $schema: z.string().optional().describe('The JSON Schema of this file, for editors.'),
  checks: z.array(tableChecksSchema).min(1),
});

export type ChecksFileInput = z.infer<typeof checksFileSchema>;
export type CheckOptions = z.infer<typeof checkOptionsSchema>;

/** The JSON Schema of the checks file, as committed under `schemas/`. */
export function checksJsonSchema(): string {
  const json = z.toJSONSchema(checksFileSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify(
    {
      ...json,
      $id: 'https://platform-host.dev/schemas/data-quality-checks.schema.json',
      title: 'platform-host data_quality checks file',
    },
    null,
    2,
  )}\n`;
}

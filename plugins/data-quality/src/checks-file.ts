import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { CHECK_TYPES, checksFileSchema, checkEntrySchema, type CheckOptions, type CheckType } from './checks-schema.js';
import { columnName, identifierProblem, tableName, tableNameProblem, type SqlName } from './sql-text.js';
import { parseThreshold, ThresholdError, type Threshold } from './thresholds.js';

/** One problem of a checks file, with where it is. */
export interface ChecksFileProblem {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  readonly message: string;
}

/** `file:line:column: message`, as compilers print it (editors jump there). */
export function formatProblem(problem: ChecksFileProblem): string {
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`;
}

/** One check, validated: its type, columns and thresholds parsed. */
export interface CheckSpec {
  /** Unique within its table: the `name` option, else the key as written (`missing_percent(source)`). */
  readonly name: string;
  readonly type: CheckType;
  /** None for `row_count` and `sql`, one or more for duplicates, one for the others. */
  readonly columns: readonly SqlName[];
  readonly warn?: Threshold;
  readonly fail?: Threshold;
  /** The worst outcome: `warn` makes meeting the fail threshold a warning. */
  readonly severity: 'fail' | 'warn';
  readonly validRegex?: string;
  /** As text: a value is compared as `column::text`. */
  readonly validValues?: readonly string[];
  readonly query?: string;
  readonly samplesQuery?: string;
  /** Line of the check in the checks file. */
  readonly line: number;
}

/** The checks of one table entry of the file (a table may appear again with another filter). */
export interface TableChecks {
  readonly table: SqlName;
  readonly filter?: string;
  readonly checks: readonly CheckSpec[];
  readonly line: number;
}

/** A checks file that passed every check. */
export interface ChecksFile {
  readonly file: string;
  readonly tables: readonly TableChecks[];
}

/** The outcome of {@link parseChecksFile}: the checks, or every problem found (then nothing runs). */
export type ParsedChecksFile =
  | { readonly ok: true; readonly checksFile: ChecksFile }
  | { readonly ok: false; readonly problems: readonly ChecksFileProblem[] };

type PathSegment = string | number;

/** Finds where `path` points in the YAML document: the value there, or its key with `at: 'key'`. */
function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly PathSegment[],
  at: 'value' | 'key' = 'value',
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? (node.range?.[0] ?? 0) : 0;
  for (const [index, segment] of path.entries()) {
    const last = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === segment);
      if (!pair) break;
      const keyOffset = isNode(pair.key) ? pair.key.range?.[0] : undefined;
      const valueOffset = isNode(pair.value) ? pair.value.range?.[0] : undefined;
      offset = (last && at === 'key' ? keyOffset : (valueOffset ?? keyOffset)) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(segment)];
      if (!isNode(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  const position = lines.linePos(offset);
  return { line: position.line, column: position.col };
}

function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : `${index === 0 ? '' : '.'}${String(segment)}`,
    )
    .join('');
}

const KEY_FORM = /^([a-z_]+)(?:\((.*)\))?$/s;

function checkKeyProblem(key: string): string {
  const match = KEY_FORM.exec(key.trim());
  const type = match?.[1];
  if (!match || type === undefined)
    return `${JSON.stringify(key)} is not a check: write type(column), row_count or sql`;
  if (!(CHECK_TYPES as readonly string[]).includes(type))
    return `unknown check type "${type}" in ${JSON.stringify(key)}: use one of ${CHECK_TYPES.join(', ')}`;
  const args = match[2];
  if (type === 'row_count' || type === 'sql')
    return `${type} takes no column: write "${type}" (not ${JSON.stringify(key)})`;
  if (args === undefined || args.trim() === '')
    return `${type} needs a column: write ${type}(column)${type.startsWith('duplicate') ? ' or ' + type + '(a, b, ...)' : ''}`;
  const columns = args.split(',').map((part) => part.trim());
  if (!type.startsWith('duplicate') && columns.length > 1)
    return `${type} takes one column, ${JSON.stringify(key)} names ${columns.length}`;
  const bad = columns.map(identifierProblem).find(Boolean);
  return bad ? `column ${bad} in ${JSON.stringify(key)}` : `${JSON.stringify(key)} is not a check`;
}

function issueMessage(issue: z.core.$ZodIssue): { message: string; path: PropertyKey[]; at: 'key' | 'value' } {
  if (issue.code === 'invalid_key') {
    const key = issue.path[issue.path.length - 1];
    return { message: checkKeyProblem(String(key)), path: issue.path, at: 'key' };
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => JSON.stringify(key)).join(', ');
    return {
      message: `${pathText(issue.path) || 'the file'}: unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${keys}`,
      path: [...issue.path, issue.keys[0] ?? ''],
      at: 'key',
    };
  }
  return { message: `${pathText(issue.path) || 'the file'}: ${issue.message}`, path: issue.path, at: 'value' };
}

const OPTIONS_BY_TYPE: Readonly<Record<'sql' | 'invalid' | 'other', readonly (keyof CheckOptions)[]>> = {
  sql: ['name', 'severity', 'warn', 'fail', 'query', 'samples'],
  invalid: ['name', 'severity', 'warn', 'fail', 'valid_regex', 'valid_values'],
  other: ['name', 'severity', 'warn', 'fail'],
};

interface Collected {
  readonly add: (path: readonly PathSegment[], message: string, at?: 'key' | 'value') => void;
}

function readCheck(
  key: string,
  options: CheckOptions,
  path: readonly PathSegment[],
  line: number,
  problems: Collected,
): CheckSpec | undefined {
  const match = /^([a-z_]+)(?:\((.*)\))?$/s.exec(key);
  const type = match?.[1] as CheckType | undefined;
  if (!match || type === undefined) return undefined;
  const columns = match[2] === undefined ? [] : match[2].split(',').map((part) => columnName(part.trim()));
  const family = type === 'sql' ? 'sql' : type.startsWith('invalid') ? 'invalid' : 'other';
  const allowed = OPTIONS_BY_TYPE[family];
  let valid = true;
  if (!type.startsWith('duplicate') && columns.length > 1) {
    problems.add([...path, key], checkKeyProblem(key), 'key');
    valid = false;
  }
  for (const option of Object.keys(options) as (keyof CheckOptions)[]) {
    if (!allowed.includes(option)) {
      problems.add(
        [...path, key, option],
        `${key}: ${type} takes no option "${option}" (it takes ${allowed.join(', ')})`,
        'key',
      );
      valid = false;
    }
  }
  if (type === 'sql') {
    if (options.name === undefined) {
      problems.add([...path, key], 'sql: a custom SQL check needs a name');
      valid = false;
    }
    if (options.query === undefined) {
      problems.add([...path, key], 'sql: a custom SQL check needs a query returning the observed number');
      valid = false;
    }
  }
  if (family === 'invalid' && (options.valid_regex === undefined) === (options.valid_values === undefined)) {
    problems.add([...path, key], `${key}: give exactly one of valid_regex and valid_values`);
    valid = false;
  }
  if (options.warn === undefined && options.fail === undefined) {
    problems.add([...path, key], `${key}: a check needs a warn or a fail threshold (or both)`);
    valid = false;
  }
  const kind = type === 'freshness' ? 'duration' : 'number';
  const thresholds: { warn?: Threshold; fail?: Threshold } = {};
  for (const level of ['warn', 'fail'] as const) {
    const text = options[level];
    if (text === undefined) continue;
    try {
      thresholds[level] = parseThreshold(text, kind);
    } catch (error) {
      if (!(error instanceof ThresholdError)) throw error;
      problems.add([...path, key, level], `${key}.${level}: ${error.message}`);
      valid = false;
    }
  }
  if (!valid) return undefined;
  return {
    name:
      options.name ??
      key
        .replace(/\s*,\s*/g, ', ')
        .replace(/\(\s*/, '(')
        .replace(/\s*\)$/, ')'),
    type,
    columns,
    ...thresholds,
    severity: options.severity ?? 'fail',
    ...(options.valid_regex === undefined ? {} : { validRegex: options.valid_regex }),
    ...(options.valid_values === undefined ? {} : { validValues: options.valid_values.map(String) }),
    ...(options.query === undefined ? {} : { query: options.query }),
    ...(options.samples === undefined ? {} : { samplesQuery: options.samples }),
    line,
  };
}

/**
 * Parses and validates a checks file: YAML syntax, the schema (`schemas/data-quality-checks.schema.json`
 * is generated from the same zod schema), check keys, options per check type, thresholds, identifiers
 * and unique check names per table. Every problem is listed with its line and column.
 */
export function parseChecksFile(file: string, source: string): ParsedChecksFile {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: ChecksFileProblem[] = [];
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const position = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
      problems.push({
        file,
        line: position.line,
        column: position.col,
        message: `YAML: ${error.message.split('\n')[0] ?? error.message}`,
      });
    }
    return { ok: false, problems };
  }
  const collected: Collected = {
    add: (path, message, at = 'value') => problems.push({ file, ...locate(doc, lines, path, at), message }),
  };
  const raw: unknown = doc.toJS();
  const whole = checksFileSchema.safeParse(raw);
  if (!whole.success) {
    for (const issue of whole.error.issues) {
      const { message, path, at } = issueMessage(issue);
      collected.add(
        path.filter((segment): segment is PathSegment => typeof segment !== 'symbol'),
        message,
        at,
      );
    }
  }
  const entries: unknown[] =
    typeof raw === 'object' && raw !== null && Array.isArray((raw as { checks?: unknown }).checks)
      ? (raw as { checks: unknown[] }).checks
      : [];
  const tables: TableChecks[] = [];
  const names = new Map<string, number>();
  entries.forEach((entry, tableIndex) => {
    // Checked check by check, so one malformed check (reported by the schema above) does not hide
    // the problems of the others.
    if (typeof entry !== 'object' || entry === null) return;
    const { table: rawTable, filter, checks: rawChecks } = entry as Record<string, unknown>;
    if (typeof rawTable !== 'string' || rawTable === '') return;
    const base: PathSegment[] = ['checks', tableIndex];
    const tableProblem = tableNameProblem(rawTable);
    if (tableProblem) {
      collected.add([...base, 'table'], `table: ${tableProblem}`);
      return;
    }
    const table = tableName(rawTable);
    const checks: CheckSpec[] = [];
    (Array.isArray(rawChecks) ? (rawChecks as unknown[]) : []).forEach((rawCheck, checkIndex) => {
      const path: PathSegment[] = [...base, 'checks', checkIndex];
      const parsedCheck = checkEntrySchema.safeParse(rawCheck);
      if (!parsedCheck.success) return;
      const check = parsedCheck.data;
      const keys = Object.keys(check);
      const line = locate(doc, lines, path).line;
      if (keys.length !== 1) {
        collected.add(
          path,
          `${pathText(path)}: a check is one key (such as missing_count(column)), found ${keys.length}`,
        );
        return;
      }
      const key = keys[0] ?? '';
      const options = check[key];
      if (options === undefined) return;
      const spec = readCheck(key, options, path, line, collected);
      if (!spec) return;
      const unique = `${table.display}\u0000${spec.name}`;
      const first = names.get(unique);
      if (first !== undefined) {
        collected.add(
          path,
          `check name "${spec.name}" is used twice for table ${table.display} (first at line ${first}): give one of them a name`,
        );
        return;
      }
      names.set(unique, line);
      checks.push(spec);
    });
    tables.push({
      table,
      ...(typeof filter === 'string' ? { filter } : {}),
      checks,
      line: locate(doc, lines, base).line,
    });
  });
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    return { ok: false, problems };
  }
  return { ok: true, checksFile: { file, tables } };
}

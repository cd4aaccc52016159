import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { formatProblem, parseChecksFile, type ChecksFile } from './checks-file.js';
import { CHECK_KEY_PATTERN, checksJsonSchema } from './checks-schema.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The issue's example checks file, verbatim. */
const ISSUE_EXAMPLE = `checks:
  - table: cleaned_events
    filter: "event_date >= current_date - 7"     # optional, applies to every check of this table
    checks:
      - row_count: { fail: "< 1" }
      - missing_percent(source): { warn: "> 1", fail: "> 5" }
      - missing_count(payload): { fail: "> 0" }
      - duplicate_count(dedup_key): { fail: "> 0" }
      - duplicate_percent(event_type, source, payload): { warn: "> 0.1" }
      - freshness(created_at): { warn: "> 1d", fail: "> 7d" }
      - invalid_count(event_type): { valid_regex: "^[a-z_]+$", fail: "> 0" }
      - invalid_percent(source): { valid_values: [web, mobile, api], warn: "> 2" }
      - sql:
          name: no_future_events
          query: "select count(*) from cleaned_events where event_date > current_date"
          fail: "> 0"
          samples: "select id, event_date from cleaned_events where event_date > current_date"
  - table: metric_rollups
    checks:
      - min(value_min): { fail: "< 0" }
      - avg(value_avg): { warn: "not between 1 and 500" }
      - max(event_count): { fail: "> 1000000" }
`;

function parsed(source: string): ChecksFile {
  const result = parseChecksFile('checks.yml', source);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.checksFile;
}

function problems(source: string): string[] {
  const result = parseChecksFile('checks.yml', source);
  if (result.ok) throw new Error('expected problems, the file was accepted');
  return result.problems.map(formatProblem);
}

/** A file with one table and the given check lines (each indented under `checks:`). */
function oneTable(...checks: string[]): string {
  return `checks:\n  - table: t\n    checks:\n${checks.map((line) => `      ${line}\n`).join('')}`;
}

describe('data_quality checks file', () => {
  it("accepts the issue's example with every check type, names, columns and thresholds", () => {
    const file = parsed(ISSUE_EXAMPLE);
    expect(file.tables.map((entry) => [entry.table.display, entry.filter, entry.checks.length])).to.deep.equal([
      ['cleaned_events', 'event_date >= current_date - 7', 9],
      ['metric_rollups', undefined, 3],
    ]);
    const [events] = file.tables;
    expect(events?.checks.map((check) => check.name)).to.deep.equal([
      'row_count',
      'missing_percent(source)',
      'missing_count(payload)',
      'duplicate_count(dedup_key)',
      'duplicate_percent(event_type, source, payload)',
      'freshness(created_at)',
      'invalid_count(event_type)',
      'invalid_percent(source)',
      'no_future_events',
    ]);
    const duplicates = events?.checks[4];
    expect(duplicates?.columns.map((column) => column.sql)).to.deep.equal(['"event_type"', '"source"', '"payload"']);
    expect(events?.checks[5]?.fail).to.include({ operator: '>', value: 7 * 86400 });
    expect(events?.checks[7]?.validValues).to.deep.equal(['web', 'mobile', 'api']);
    expect(events?.checks[8]).to.include({ type: 'sql', line: 13 });
    expect(events?.checks[8]?.samplesQuery).to.match(/^select id, event_date/);
    expect(file.tables[1]?.checks[1]?.warn).to.include({ operator: 'not between', value: 1, upper: 500 });
  });

  it('ships a default checks file that is valid and points at the committed JSON Schema', () => {
    const source = readFileSync(`${MODULE_DIR}checks/default.yml`, 'utf8');
    const file = parsed(source);
    expect(file.tables.map((entry) => entry.table.display)).to.deep.equal(['cleaned_events', 'metric_rollups']);
    expect(source).to.include('$schema: ../../../schemas/data-quality-checks.schema.json');
  });

  it('keeps schemas/data-quality-checks.schema.json equal to the zod schema (run `npm run schemas` when this fails)', () => {
    const committed = readFileSync(`${MODULE_DIR}../../schemas/data-quality-checks.schema.json`, 'utf8');
    expect(committed).to.equal(checksJsonSchema());
    const schema = JSON.parse(committed) as { additionalProperties?: unknown };
    expect(schema.additionalProperties).to.equal(false);
  });

  it('gives editors the check key pattern the parser accepts', () => {
    for (const key of ['row_count', 'sql', 'missing_count(a)', 'duplicate_count(a, b,c)', 'freshness( created_at )'])
      expect(CHECK_KEY_PATTERN.test(key), key).to.equal(true);
    for (const key of ['rows', 'missing_count', 'row_count(a)', 'min(a, b)x', 'avg(1a)'])
      expect(CHECK_KEY_PATTERN.test(key), key).to.equal(false);
  });

  it('folds unquoted names to lowercase and quotes them, also schema-qualified tables', () => {
    const file = parsed('checks:\n  - table: Analytics.Events\n    checks:\n      - max(Amount): { fail: "> 1" }\n');
    expect(file.tables[0]?.table).to.deep.equal({ display: 'analytics.events', sql: '"analytics"."events"' });
    expect(file.tables[0]?.checks[0]?.columns[0]).to.deep.equal({ display: 'amount', sql: '"amount"' });
  });

  it('lets a check carry a name and a severity', () => {
    const file = parsed(oneTable('- row_count: { name: enough_rows, severity: warn, fail: "< 10" }'));
    expect(file.tables[0]?.checks[0]).to.include({ name: 'enough_rows', severity: 'warn' });
  });

  describe('lists every problem with file, line and column, and what to write instead', () => {
    const cases: [string, string, string[]][] = [
      ['YAML syntax', 'checks:\n  - table: t\n    checks: [\n', ['checks.yml:4:1: YAML: ']],
      [
        'a duplicate key',
        'checks:\n  - table: t\n    table: u\n    checks:\n      - row_count: { fail: "< 1" }\n',
        ['checks.yml:3:5: YAML: Map keys must be unique'],
      ],
      ['an empty file', '', ['checks.yml:1:1: the file: Invalid input: expected object, received null']],
      [
        'an unknown top-level key',
        'checkz: []\nchecks:\n  - table: t\n    checks:\n      - row_count: { fail: "< 1" }\n',
        ['checks.yml:1:1: the file: unknown key "checkz"'],
      ],
      [
        'an unknown check type',
        oneTable('- null_rate(source): { fail: "> 1" }'),
        [
          'checks.yml:4:9: unknown check type "null_rate" in "null_rate(source)": use one of row_count, missing_count, missing_percent, invalid_count, invalid_percent, freshness, min, max, avg, duplicate_count, duplicate_percent, sql',
        ],
      ],
      [
        'a column check without its column',
        oneTable('- missing_count: { fail: "> 1" }'),
        ['checks.yml:4:9: missing_count needs a column: write missing_count(column)'],
      ],
      [
        'row_count with a column',
        oneTable('- row_count(id): { fail: "< 1" }'),
        ['checks.yml:4:9: row_count takes no column: write "row_count" (not "row_count(id)")'],
      ],
      [
        'two columns where one is taken',
        oneTable('- avg(a, b): { fail: "> 1" }'),
        ['checks.yml:4:9: avg takes one column, "avg(a, b)" names 2'],
      ],
      [
        'a column that is not an identifier',
        oneTable('- max(amount;drop): { fail: "> 1" }'),
        [
          'checks.yml:4:9: column "amount;drop" is not a plain identifier (letters, digits, _ and $, starting with a letter or _) in "max(amount;drop)"',
        ],
      ],
      [
        'a table name that is not an identifier',
        'checks:\n  - table: "events; drop table x"\n    checks:\n      - row_count: { fail: "< 1" }\n',
        [
          'checks.yml:2:12: table: "events; drop table x" is not a plain identifier (letters, digits, _ and $, starting with a letter or _)',
        ],
      ],
      [
        'a threshold that is not one',
        oneTable('- row_count: { fail: "fewer than 1" }'),
        [
          'checks.yml:4:28: row_count.fail: "fewer than 1" is not a threshold: write one of < n, <= n, > n, >= n, = n, != n, between a and b, not between a and b',
        ],
      ],
      [
        'a freshness threshold without a unit',
        oneTable('- freshness(created_at): { warn: "> 5" }'),
        [
          'checks.yml:4:40: freshness(created_at).warn: "> 5": freshness thresholds are durations with a unit (s, m, h or d), for example "> 1d"',
        ],
      ],
      [
        'a check without thresholds',
        oneTable('- missing_count(a): { name: x }'),
        ['checks.yml:4:27: missing_count(a): a check needs a warn or a fail threshold (or both)'],
      ],
      [
        'an option the check type does not take',
        oneTable('- max(a): { fail: "> 1", valid_regex: "x" }'),
        ['checks.yml:4:32: max(a): max takes no option "valid_regex" (it takes name, severity, warn, fail)'],
      ],
      [
        'an invalid check without a validity rule',
        oneTable('- invalid_count(a): { fail: "> 0" }'),
        ['checks.yml:4:27: invalid_count(a): give exactly one of valid_regex and valid_values'],
      ],
      [
        'an sql check without name and query',
        oneTable('- sql: { fail: "> 0" }'),
        [
          'checks.yml:4:14: sql: a custom SQL check needs a name',
          'checks.yml:4:14: sql: a custom SQL check needs a query returning the observed number',
        ],
      ],
      [
        'an unknown option',
        oneTable('- row_count: { fail: "< 1", treshold: 3 }'),
        ['checks.yml:4:35: checks[0].checks[0].row_count: unknown key "treshold"'],
      ],
      [
        'a severity that does not exist',
        oneTable('- row_count: { fail: "< 1", severity: critical }'),
        ['checks.yml:4:45: checks[0].checks[0].row_count.severity: Invalid option: expected one of "fail"|"warn"'],
      ],
      [
        'two keys in one check',
        oneTable('- { row_count: { fail: "< 1" }, max(a): { fail: "> 1" } }'),
        ['checks.yml:4:9: checks[0].checks[0]: a check is one key (such as missing_count(column)), found 2'],
      ],
      [
        'the same check name twice for a table',
        oneTable('- row_count: { fail: "< 1" }', '- row_count: { warn: "< 10" }'),
        ['checks.yml:5:9: check name "row_count" is used twice for table t (first at line 4): give one of them a name'],
      ],
      [
        'a table without checks',
        'checks:\n  - table: t\n    checks: []\n',
        ['checks.yml:3:13: checks[0].checks: Too small: expected array to have >=1 items'],
      ],
    ];
    for (const [what, source, expected] of cases) {
      it(what, () => {
        const found = problems(source);
        expect(found.length, found.join('\n')).to.equal(expected.length);
        expected.forEach((message, index) =>
          expect(found[index]).to.satisfy((line: string) => line.startsWith(message)),
        );
      });
    }
  });

  it('reports the problems of the other checks of a table whose check key is malformed', () => {
    const found = problems(oneTable('- row_cnt: { fail: "< 1" }', '- freshness(ts): { fail: "> 7" }'));
    expect(found.map((line) => line.split(':').slice(0, 3).join(':'))).to.deep.equal([
      'checks.yml:4:9',
      'checks.yml:5:32',
    ]);
  });

  it('reports the problems of every table and check at once, in line order', () => {
    const found = problems(
      [
        'checks:',
        '  - table: a',
        '    checks:',
        '      - row_count: { fail: "lots" }',
        '      - freshness(ts): { fail: "> 3" }',
        '  - table: b',
        '    filter: 7',
        '    checks:',
        '      - nonsense(x): { fail: "> 1" }',
        '  - table: c',
        '    checks:',
        '      - avg(v): { warn: "between 9 and 1" }',
        '',
      ].join('\n'),
    );
    expect(found.map((line) => line.split(':').slice(0, 2).join(':'))).to.deep.equal([
      'checks.yml:4',
      'checks.yml:5',
      'checks.yml:7',
      'checks.yml:9',
      'checks.yml:12',
    ]);
  });
});

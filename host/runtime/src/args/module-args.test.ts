import { expect } from 'chai';
import type { ModuleManifest } from '@platform-host/contracts';
import { createModuleConfig, requireValidArgs, validateModuleArgs } from './module-args.js';

const manifest: ModuleManifest = {
  name: 'stream_ingest',
  display_name: 'Stream Ingestion Service',
  description: 'Consumes events.',
  type: 'service',
  version: '1.0.0',
  host_api: '^2.0.0',
  entry: './dist/main.js',
  dependencies: { interfaces: [], modules: [] },
  dialects: ['postgresql'],
  exit_codes: {},
  args: [
    { name: 'topic', description: 'Topic to consume', required: true, type: 'string' },
    { name: 'batch-size', description: 'Messages per batch', required: false, type: 'integer', default: 100 },
    { name: 'ratio', description: 'A ratio', required: false, type: 'float' },
    { name: 'dry-run', description: 'Write nothing', required: false, type: 'boolean', default: false },
    {
      name: 'output-format',
      description: 'Output format',
      required: false,
      type: 'string',
      choices: ['parquet', 'json', 'csv'],
      default: 'parquet',
    },
    { name: 'date', description: 'Partition date', required: false, type: 'string', format: 'date' },
    { name: 'window', description: 'Window size', required: false, type: 'string', format: 'duration', default: '1m' },
    { name: 'since', description: 'Start', required: false, type: 'string', format: 'date-time' },
    { name: 'workers', description: 'Workers', required: false, type: 'integer', min: 1, max: 8 },
    { name: 'ratio-cap', description: 'Cap', required: false, type: 'float', max: 1 },
    { name: 'table', description: 'Table', required: false, type: 'string', pattern: '[a-z_]+' },
    { name: 'dir', description: 'Folder', required: false, type: 'string', format: 'relative-path' },
  ],
};

describe('module argument validation', () => {
  it('casts values and applies defaults', () => {
    const { values, problems } = validateModuleArgs(manifest, ['--topic', 'events', '--ratio=0.25', '--dry-run']);
    expect(problems).to.deep.equal([]);
    expect(Object.fromEntries(values)).to.deep.equal({
      topic: 'events',
      'batch-size': 100,
      ratio: 0.25,
      'dry-run': true,
      'output-format': 'parquet',
      window: '1m',
    });
  });

  it('accepts boolean spellings and --no-<name>', () => {
    expect(validateModuleArgs(manifest, ['--topic', 't', '--dry-run', 'false']).values.get('dry-run')).to.equal(false);
    expect(validateModuleArgs(manifest, ['--topic', 't', '--no-dry-run']).values.get('dry-run')).to.equal(false);
    expect(validateModuleArgs(manifest, ['--topic', 't', '--dry-run=yes']).values.get('dry-run')).to.equal(true);
  });

  it('reports every problem at once: missing, wrong type, bad choice, unknown with a suggestion', () => {
    const { problems } = validateModuleArgs(manifest, ['--batch-size', 'ten', '--output-format', 'xml', '--topc', 'x']);
    expect(problems).to.deep.equal([
      'unknown argument --topc (did you mean --topic?)',
      'missing required argument --topic (string): Topic to consume',
      '--batch-size must be an integer, got "ten"',
      '--output-format must be one of parquet, json, csv; got "xml"',
    ]);
  });

  it('refuses repeated arguments, stray values and integers that are not whole', () => {
    const { problems } = validateModuleArgs(manifest, ['--topic', 'a', '--topic', 'b', 'stray', '--batch-size', '1.5']);
    expect(problems).to.deep.equal([
      '--topic is given more than once',
      'unexpected value "stray" (arguments are given as --name value)',
      '--batch-size must be an integer, got "1.5"',
    ]);
  });

  it('throws one PH_ERR_ARGS_INVALID (exit 2) listing all problems', () => {
    const result = validateModuleArgs(manifest, ['--batch-size', 'x', '--ratio', 'y']);
    try {
      requireValidArgs(manifest, result);
      expect.fail('should throw');
    } catch (error) {
      const e = error as { code: string; exitCode: number; message: string };
      expect(e.code).to.equal('PH_ERR_ARGS_INVALID');
      expect(e.exitCode).to.equal(2);
      expect(e.message).to.match(/^3 problems with the arguments of module stream_ingest:/);
    }
  });

  it('gives modules typed getters that refuse the wrong type', () => {
    const config = createModuleConfig(
      'm',
      new Map<string, string | number | boolean>([
        ['batch-size', 5],
        ['topic', 't'],
      ]),
    );
    expect(config.integer('batch-size')).to.equal(5);
    expect(config.string('topic')).to.equal('t');
    expect(() => config.boolean('topic')).to.throw(/read argument "topic" as boolean, but it is string/);
  });

  it('refuses dates that do not exist, durations without a unit and timestamps without a zone, naming each argument', () => {
    const { problems } = validateModuleArgs(manifest, [
      '--topic',
      't',
      '--date',
      '2026-02-30',
      '--window',
      '60',
      '--since',
      '2026-01-15T10:00:00',
    ]);
    expect(problems).to.deep.equal([
      '--date must be a calendar date YYYY-MM-DD that exists; got "2026-02-30"',
      '--window must be a duration: a number with a unit ms, s, m, h or d (e.g. 500ms, 30s, 5m); got "60"',
      '--since must be an ISO-8601 timestamp with a time zone (Z or +hh:mm); got "2026-01-15T10:00:00"',
    ]);
  });

  it('accepts valid formatted values and reads durations in milliseconds', () => {
    const { values, problems } = validateModuleArgs(manifest, [
      '--topic',
      't',
      '--date',
      '2024-02-29',
      '--window',
      '1.5h',
      '--since',
      '2026-01-15T10:00:00.123+01:00',
    ]);
    expect(problems).to.deep.equal([]);
    const config = createModuleConfig('m', values);
    expect(config.durationMs('window')).to.equal(5_400_000);
    expect(config.string('date')).to.equal('2024-02-29');
  });

  it('checks numeric ranges, patterns (whole value) and relative paths before the module runs', () => {
    const { problems } = validateModuleArgs(manifest, [
      '--topic',
      't',
      '--workers',
      '0',
      '--ratio-cap',
      '1.5',
      '--table',
      'events; drop',
      '--dir',
      'a/../../etc',
    ]);
    expect(problems).to.deep.equal([
      '--workers must be from 1 to 8, got 0',
      '--ratio-cap must be at most 1, got 1.5',
      '--table must match [a-z_]+; got "events; drop"',
      '--dir must stay inside the root (no .. segments); got "a/../../etc"',
    ]);
    const ok = validateModuleArgs(manifest, ['--topic', 't', '--workers', '8', '--table', 'events', '--dir', 'raw/x']);
    expect(ok.problems).to.deep.equal([]);
  });
});

import type {
  HistogramSeriesSnapshot,
  MetricFamilySnapshot,
  MetricSnapshot,
  SnapshotLabels,
} from '@platform-host/test-kit';

/** One sample line of the text exposition format. */
export interface ExpositionSample {
  readonly name: string;
  readonly labels: SnapshotLabels;
  readonly value: number;
}

/** One metric family: its `# TYPE`, `# HELP` and the samples that follow them. */
export interface ExpositionFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: ExpositionSample[];
}

const SAMPLE_SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/**
 * Parses the Prometheus text exposition format (version 0.0.4) strictly: every sample must belong
 * to the family of the `# TYPE` line before it, label values are unescaped, `+Inf`/`-Inf`/`NaN`
 * are read as numbers
 * (case-insensitive, as Prometheus reads them). Throws on a line it cannot read, so a malformed exposition fails the test.
 */
export function parseExposition(text: string): ExpositionFamily[] {
  const families = new Map<string, { name: string; help: string; type: string; samples: ExpositionSample[] }>();
  let current: { name: string; type: string; samples: ExpositionSample[] } | undefined;
  const familyOf = (name: string) => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, help: '', type: 'untyped', samples: [] };
      families.set(name, family);
    }
    return family;
  };
  text.split('\n').forEach((line, index) => {
    const fail = (problem: string): never => {
      throw new Error(`exposition line ${index + 1}: ${problem}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') return;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name = '', rest = ''] = meta;
      const family = familyOf(name);
      if (kind === 'HELP')
        family.help = rest.replace(/\\(\\|n)/g, (_match, escaped) => (escaped === 'n' ? '\n' : '\\'));
      else {
        family.type = rest;
        current = family;
      }
      return;
    }
    if (line.startsWith('#')) return;
    const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!head?.[1]) return fail('no metric name');
    const name = head[1];
    let position = name.length;
    const labels: Record<string, string> = {};
    if (line[position] === '{') {
      position += 1;
      for (;;) {
        if (line[position] === '}') break;
        const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(position));
        if (!label?.[1]) return fail('bad label');
        position += label[0].length;
        let value = '';
        while (line[position] !== '"') {
          const char = line[position];
          if (char === undefined) return fail('unterminated label value');
          if (char === '\\') {
            const next = line[position + 1];
            value += next === 'n' ? '\n' : (next ?? '');
            position += 2;
          } else {
            value += char;
            position += 1;
          }
        }
        labels[label[1]] = value;
        position += 1;
        if (line[position] === ',') position += 1;
      }
      position += 1;
    }
    const [valueText] = line.slice(position).trim().split(/\s+/);
    const value = parseValue(valueText ?? '');
    if (value === undefined) return fail('bad value');
    const owner =
      current &&
      (current.name === name || (SAMPLE_SUFFIXES[current.type] ?? []).some((suffix) => current?.name + suffix === name))
        ? current
        : undefined;
    if (owner === undefined) return fail('sample outside the family of the preceding # TYPE');
    owner.samples.push({ name, labels, value });
  });
  return [...families.values()];
}

/** A sample value as Prometheus reads it (Go's ParseFloat: `Inf` and `NaN` in any case; prom-client writes `Nan`). */
function parseValue(text: string): number | undefined {
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function withoutLe(labels: SnapshotLabels): SnapshotLabels {
  return Object.fromEntries(Object.entries(labels).filter(([key]) => key !== 'le'));
}

/** The test kit's {@link MetricSnapshot} of an exposition: counters, gauges and histograms with their series. */
export function snapshotOfExposition(text: string): MetricSnapshot {
  const families: MetricFamilySnapshot[] = [];
  for (const family of parseExposition(text)) {
    const { name, help } = family;
    if (family.type === 'counter' || family.type === 'gauge') {
      families.push({
        kind: family.type,
        name,
        help,
        series: family.samples.map(({ labels, value }) => ({ labels, value })),
      });
    } else if (family.type === 'histogram') {
      const series = new Map<
        string,
        { labels: SnapshotLabels; count: number; sum: number; buckets: { le: number; count: number }[] }
      >();
      for (const sample of family.samples) {
        const labels = withoutLe(sample.labels);
        const key = JSON.stringify(Object.entries(labels).sort());
        let entry = series.get(key);
        if (entry === undefined) {
          entry = { labels, count: 0, sum: 0, buckets: [] };
          series.set(key, entry);
        }
        if (sample.name === `${name}_count`) entry.count = sample.value;
        else if (sample.name === `${name}_sum`) entry.sum = sample.value;
        else {
          const le = parseValue(sample.labels.le ?? '');
          if (le === undefined) throw new Error(`${sample.name}: bucket without a valid le label`);
          if (le !== Number.POSITIVE_INFINITY) entry.buckets.push({ le, count: sample.value });
        }
      }
      families.push({
        kind: 'histogram',
        name,
        help,
        series: [...series.values()].map((entry): HistogramSeriesSnapshot => ({
          ...entry,
          buckets: entry.buckets.sort((a, b) => a.le - b.le),
        })),
      });
    }
  }
  return { families };
}

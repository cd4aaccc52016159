import { expect } from 'chai';
import { splitLines, UnreadableLine, type SplitLine } from './line-splitter.js';
import { parsePartitionDate, parseSourcePath, parseTableName } from './run-settings.js';

async function collect(chunks: ReadonlyArray<Uint8Array | string>, maxLineBytes?: number): Promise<SplitLine[]> {
  const lines: SplitLine[] = [];
  for await (const batch of splitLines(
    (async function* () {
      yield* chunks;
    })(),
    maxLineBytes,
  )) {
    lines.push(...batch);
  }
  return lines;
}

function reasonsOrText(lines: SplitLine[]): string[] {
  return lines.map((line) => (line instanceof UnreadableLine ? `<${line.reason}>` : line));
}

describe('line splitter', () => {
  it('splits LF and CRLF lines and keeps a last line without newline', async () => {
    expect(await collect(['a\r\nb\nc'])).to.deep.equal(['a', 'b', 'c']);
  });

  it('drops a UTF-8 byte order mark at the start only, also when split across chunks', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(await collect([Buffer.concat([bom, Buffer.from('x\n')])])).to.deep.equal(['x']);
    expect(await collect([bom.subarray(0, 1), bom.subarray(1), Buffer.from('y\r\n')])).to.deep.equal(['y']);
    expect(await collect([bom])).to.deep.equal([]);
  });

  it('joins lines and multi-byte characters split across chunks', async () => {
    const text = Buffer.from('{"q":"café"}\n{"q":"日本"}\n');
    const chunks = Array.from(text, (_byte, index) => text.subarray(index, index + 1));
    expect(await collect(chunks)).to.deep.equal(['{"q":"café"}', '{"q":"日本"}']);
  });

  it('keeps blank lines so that line numbers stay right', async () => {
    expect(await collect(['a\n\n  \r\nb\n'])).to.deep.equal(['a', '', '  ', 'b']);
  });

  it('reports a line that is not UTF-8 and keeps its neighbours', async () => {
    const bytes = Buffer.concat([Buffer.from('good\n'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('fine\n')]);
    expect(reasonsOrText(await collect([bytes]))).to.deep.equal(['good', '<invalid_utf8>', 'fine']);
  });

  it('skips a line longer than the limit without buffering it', async () => {
    const lines = await collect(['ok\n', 'x'.repeat(40), 'y'.repeat(40), 'z\nafter\n'], 64);
    expect(reasonsOrText(lines)).to.deep.equal(['ok', '<line_too_long>', 'after']);
  });
});

describe('run settings', () => {
  it('accepts a real YYYY-MM-DD date and refuses others', () => {
    expect(parsePartitionDate('2024-02-29')).to.equal('2024-02-29');
    expect(() => parsePartitionDate('2026-02-30')).to.throw(/not a day of the calendar/);
    expect(() => parsePartitionDate('2026-1-5')).to.throw(/YYYY-MM-DD/);
    expect(() => parsePartitionDate('2026-01-15/../x')).to.throw(/YYYY-MM-DD/);
  });

  it('accepts table and schema.table names, quoting them as PostgreSQL folds them', () => {
    expect(parseTableName('cleaned_events')).to.deep.equal({ display: 'cleaned_events', sql: '"cleaned_events"' });
    expect(parseTableName('Warehouse.Order')).to.deep.equal({ display: 'warehouse.order', sql: '"warehouse"."order"' });
  });

  it('refuses a target table that is not a plain identifier', () => {
    for (const name of ['', 'a.b.c', 'events; DROP TABLE x', '"quoted"', '1table', 'a-b', 'x'.repeat(64)]) {
      expect(() => parseTableName(name), name).to.throw(/--target-table .* is not a table name/);
    }
  });

  it('normalizes the source path and refuses one that leaves the root', () => {
    expect(parseSourcePath('raw/events/')).to.equal('raw/events');
    expect(parseSourcePath('./raw')).to.equal('raw');
    expect(() => parseSourcePath('/etc')).to.throw(/relative path/);
    expect(() => parseSourcePath('raw/../../x')).to.throw(/relative path/);
  });
});

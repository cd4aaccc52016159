import { expect } from 'chai';
import {
  canonicalJson,
  InexactNumberError,
  isNestedDeeperThan,
  MAX_JSON_DEPTH,
  parseJsonExact,
} from './canonical-json.js';
import { cleanLine } from './event-cleaning.js';
import {
  computeDedupKey,
  ensurePayloadDict,
  normalizeEventType,
  transformEvent,
  transformEvents,
} from './transformer.js';

const DATE = '2026-01-15';
const CREATED_AT = new Date('2026-01-16T03:00:00.000Z');

function keyOf(line: string): string {
  const outcome = cleanLine(line, DATE, CREATED_AT);
  if (outcome.event === undefined) throw new Error(`line refused: ${outcome.reason}`);
  return outcome.event.dedupKey;
}

describe('transformer', () => {
  it('normalizes event types to lowercase without surrounding whitespace', () => {
    expect(normalizeEventType('  Page_View \t')).to.equal('page_view');
    expect(normalizeEventType('CLICK')).to.equal('click');
  });

  it('parses a payload given as a JSON string', () => {
    expect(ensurePayloadDict('{"url": "/home", "n": 1}')).to.deep.equal({ url: '/home', n: 1 });
  });

  it('returns an object payload as it is', () => {
    const payload = { url: '/home' };
    expect(ensurePayloadDict(payload)).to.equal(payload);
  });

  it('refuses a payload that is not a JSON object', () => {
    expect(() => ensurePayloadDict('[1, 2]')).to.throw(TypeError, /an array/);
    expect(() => ensurePayloadDict('nope')).to.throw(SyntaxError);
  });

  it('computes the same dedup key for the same input', () => {
    const event = { eventType: 'click', payloadJson: '{"a":1}', eventDate: DATE };
    expect(computeDedupKey(event)).to.equal(computeDedupKey({ ...event }));
    expect(computeDedupKey(event)).to.match(/^[0-9a-f]{64}$/);
  });

  it('computes different dedup keys when type, payload or date differ', () => {
    const base = { eventType: 'click', payloadJson: '{"a":1}', eventDate: DATE };
    const keys = new Set([
      computeDedupKey(base),
      computeDedupKey({ ...base, eventType: 'view' }),
      computeDedupKey({ ...base, payloadJson: '{"a":2}' }),
      computeDedupKey({ ...base, eventDate: '2026-01-16' }),
    ]);
    expect(keys.size).to.equal(4);
  });

  it('adds event_date and created_at and keeps the source', () => {
    const [row] = transformEvents([{ eventType: ' Click ', payload: { b: 2, a: 1 }, source: 'web' }], DATE, CREATED_AT);
    expect(row).to.deep.include({
      eventType: 'click',
      payloadJson: '{"a":1,"b":2}',
      source: 'web',
      eventDate: DATE,
      createdAt: CREATED_AT,
    });
    expect(row?.dedupKey).to.match(/^[0-9a-f]{64}$/);
  });

  it('gives every row of one call the same created_at', () => {
    const rows = transformEvents(
      [
        { eventType: 'a', payload: {}, source: 's' },
        { eventType: 'b', payload: {}, source: 's' },
      ],
      DATE,
    );
    expect(rows[0]?.createdAt).to.equal(rows[1]?.createdAt);
  });
});

describe('canonical payload', () => {
  it('sorts object keys recursively, inside arrays too', () => {
    expect(canonicalJson({ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: null })).to.equal(
      '{"a":null,"b":{"c":[{"e":2,"f":1}],"d":1}}',
    );
  });

  it('gives one dedup key whatever the key order and spacing of the source', () => {
    const one = keyOf('{"event_type":"click","payload":{"user":{"id":1,"name":"A"},"tags":["x","y"]},"source":"web"}');
    const other = keyOf(
      '{ "source": "web", "payload": { "tags": [ "x", "y" ], "user": { "name": "A", "id": 1 } }, "event_type": " CLICK " }',
    );
    expect(one).to.equal(other);
  });

  it('treats 1, 1.0 and 1e0 as the same number, and an array order as significant', () => {
    const key = (payload: string) => keyOf(`{"event_type":"e","payload":${payload},"source":"s"}`);
    expect(key('{"n":1}')).to.equal(key('{"n":1.0}'));
    expect(key('{"n":1}')).to.equal(key('{"n":1e0}'));
    expect(key('{"n":[1,2]}')).to.not.equal(key('{"n":[2,1]}'));
  });

  it('gives a payload sent as a JSON string the key of the same object', () => {
    expect(keyOf('{"event_type":"e","payload":"{\\"b\\":1,\\"a\\":2}","source":"s"}')).to.equal(
      keyOf('{"event_type":"e","payload":{"a":2,"b":1},"source":"s"}'),
    );
  });

  it('keeps integers beyond 2^53 exactly and tells them apart', () => {
    const outcome = cleanLine(
      '{"event_type":"e","payload":{"id":12345678901234567891,"small":1.50},"source":"s"}',
      DATE,
      CREATED_AT,
    );
    expect(outcome.event?.payloadJson).to.equal('{"id":12345678901234567891,"small":1.5}');
    expect(keyOf('{"event_type":"e","payload":{"id":12345678901234567891},"source":"s"}')).to.not.equal(
      keyOf('{"event_type":"e","payload":{"id":12345678901234567890},"source":"s"}'),
    );
  });

  it('keeps a big integer exact inside a payload given as a JSON string', () => {
    const outcome = cleanLine(
      '{"event_type":"e","payload":"{\\"id\\": 98765432109876543210}","source":"s"}',
      DATE,
      CREATED_AT,
    );
    expect(outcome.event?.payloadJson).to.equal('{"id":98765432109876543210}');
  });

  it('keeps a number that overflows a double as a decimal', () => {
    expect(canonicalJson(parseJsonExact('{"x":1.5e400,"y":-2E+500}'))).to.equal('{"x":1.5e400,"y":-2e500}');
  });

  it('refuses to serialize a rounded big integer that came from plain JSON.parse', () => {
    expect(() => canonicalJson(JSON.parse('{"id":12345678901234567891}'))).to.throw(InexactNumberError);
  });

  it('keeps a key named __proto__ as data', () => {
    expect(canonicalJson(JSON.parse('{"z":1,"__proto__":{"a":1}}'))).to.equal('{"__proto__":{"a":1},"z":1}');
  });

  it('marks a row transformed from an exact parse with the exact number', () => {
    const row = transformEvent(
      { eventType: 'e', payload: parseJsonExact('{"id":9007199254740993}'), source: 's' },
      DATE,
      CREATED_AT,
    );
    expect(row.payloadJson).to.equal('{"id":9007199254740993}');
  });

  it('rule: a number PostgreSQL numeric cannot hold is number_out_of_range, one it can hold is kept', () => {
    const reason = (payload: string): string | undefined =>
      cleanLine(`{"event_type":"e","source":"s","payload":${payload}}`, DATE, CREATED_AT).reason;
    expect(reason('{"v": 1e200000}')).to.equal('number_out_of_range');
    expect(reason('{"v": -1e131072}')).to.equal('number_out_of_range');
    expect(reason('"{\\"v\\": 1e200000}"'), 'in a payload given as a string').to.equal('number_out_of_range');
    expect(reason('{"v": 1e131071, "w": 12345678901234567891}')).to.equal(undefined);
    expect(reason('{"big": 12345678901234567891, "v": 1e999999}')).to.equal('number_out_of_range');
  });

  it(`rule: a payload nested deeper than ${MAX_JSON_DEPTH} levels is too_deep, never a stack overflow`, () => {
    // An object `depth` levels deep.
    const nested = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const reason = (payload: string): string | undefined =>
      cleanLine(`{"event_type":"e","source":"s","payload":${payload}}`, DATE, CREATED_AT).reason;
    expect(reason(`{"a":${nested(MAX_JSON_DEPTH)}}`)).to.equal('too_deep');
    expect(reason(nested(MAX_JSON_DEPTH))).to.equal(undefined);
    expect(reason(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)).to.equal('too_deep');
    // The exact re-parse (a number beyond 2^53 first) must not overflow either.
    expect(reason(`{"big":12345678901234567891,"a":${nested(100_000)}}`)).to.equal('too_deep');
    expect(reason(JSON.stringify(nested(100_000))), 'in a payload given as a string').to.equal('too_deep');
    expect(isNestedDeeperThan(JSON.parse(`[${nested(100_000)}]`), 100_000)).to.equal(true);
    expect(isNestedDeeperThan(JSON.parse(`[${nested(100_000)}]`), 100_001)).to.equal(false);
  });
});

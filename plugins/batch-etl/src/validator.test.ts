import { expect } from 'chai';
import { makeEvent, makeEvents, makeInvalidEvent } from '@platform-host/test-kit';
import { cleanLine } from './event-cleaning.js';
import { validateEvents, validateSingleEvent } from './validator.js';

function reasonOf(event: unknown): string | undefined {
  const outcome = validateSingleEvent(event);
  return outcome.valid ? undefined : outcome.reason;
}

describe('validator', () => {
  it('accepts an event with event_type, an object payload and source', () => {
    const outcome = validateSingleEvent(makeEvent());
    expect(outcome).to.deep.equal({
      valid: true,
      event: { eventType: 'page_view', payload: { url: '/home', user_id: 'u1' }, source: 'web' },
    });
  });

  it('refuses an event without event_type', () => {
    expect(reasonOf(makeInvalidEvent('missing_type'))).to.equal('missing_event_type');
    expect(reasonOf({ ...makeEvent(), event_type: null })).to.equal('missing_event_type');
  });

  it('refuses an empty or blank event_type', () => {
    expect(reasonOf({ ...makeEvent(), event_type: '' })).to.equal('empty_event_type');
    expect(reasonOf(makeInvalidEvent('empty_event_type'))).to.equal('empty_event_type');
  });

  it('refuses an event_type that is not a string', () => {
    expect(reasonOf(makeInvalidEvent('event_type_not_string'))).to.equal('event_type_not_string');
  });

  it('refuses an event without payload', () => {
    expect(reasonOf(makeInvalidEvent('missing_payload'))).to.equal('missing_payload');
  });

  it('refuses a payload that is not an object, and a string payload that is not JSON', () => {
    expect(reasonOf(makeInvalidEvent('payload_not_object'))).to.equal('payload_not_object');
    expect(reasonOf({ ...makeEvent(), payload: '[1,2]' })).to.equal('payload_not_object');
    expect(reasonOf({ ...makeEvent(), payload: 7 })).to.equal('payload_not_object');
    expect(reasonOf(makeInvalidEvent('payload_malformed_json'))).to.equal('payload_malformed_json');
    expect(reasonOf({ ...makeEvent(), payload: 'not_a_dict' })).to.equal('payload_malformed_json');
  });

  it('accepts a payload given as a string holding a JSON object', () => {
    expect(reasonOf({ ...makeEvent(), payload: '{"url": "/home"}' })).to.equal(undefined);
  });

  it('refuses an event without source, or with an empty one', () => {
    expect(reasonOf(makeInvalidEvent('missing_source'))).to.equal('missing_source');
    expect(reasonOf(makeInvalidEvent('empty_source'))).to.equal('empty_source');
    expect(reasonOf(makeInvalidEvent('source_not_string'))).to.equal('source_not_string');
  });

  it('refuses what the VARCHAR(255) columns and jsonb cannot store', () => {
    expect(reasonOf({ ...makeEvent(), event_type: 'e'.repeat(256) })).to.equal('event_type_too_long');
    expect(reasonOf({ ...makeEvent(), event_type: `  ${'e'.repeat(255)}  ` })).to.equal(undefined);
    expect(
      reasonOf({ ...makeEvent(), event_type: '\u{1F600}'.repeat(255) }),
      '255 characters of 2 UTF-16 units each',
    ).to.equal(undefined);
    expect(reasonOf({ ...makeEvent(), source: 's'.repeat(256) })).to.equal('source_too_long');
    // Checked after normalization: "İ" (1 character) lowercases to "i̇" (2 characters).
    expect(reasonOf({ ...makeEvent(), event_type: 'İ'.repeat(200) })).to.equal('event_type_too_long');
    expect(reasonOf({ ...makeEvent(), event_type: 'İ'.repeat(127) })).to.equal(undefined);
    expect(reasonOf({ ...makeEvent(), event_type: 'İ'.repeat(128) })).to.equal('event_type_too_long');
    expect(reasonOf({ ...makeEvent(), source: 'we\u0000b' })).to.equal('unsupported_character');
    expect(
      cleanLine('{"event_type":"e","payload":{"a":"x\\u0000y"},"source":"s"}', '2026-01-15', new Date()).reason,
    ).to.equal('unsupported_character');
    expect(
      cleanLine('{"event_type":"e","payload":{"a":"\\ud800"},"source":"s"}', '2026-01-15', new Date()).reason,
    ).to.equal('unsupported_character');
    expect(
      cleanLine('{"event_type":"e","payload":{"a":"\\\\u0000 is text"},"source":"s"}', '2026-01-15', new Date()).reason,
      'an escaped backslash',
    ).to.equal(undefined);
  });

  it('refuses a line that is not a JSON object', () => {
    expect(reasonOf([1, 2])).to.equal('not_an_object');
    expect(cleanLine('{"event_type": "e", "payload": {', '2026-01-15', new Date()).reason).to.equal('malformed_json');
  });

  it('splits a mixed batch into valid and invalid events and counts reasons', () => {
    const warnings: unknown[] = [];
    const errors: unknown[] = [];
    const events = [
      ...makeEvents(7),
      makeInvalidEvent('missing_type'),
      makeInvalidEvent('empty_event_type'),
      makeInvalidEvent('payload_malformed_json'),
    ];
    const result = validateEvents(events, {
      warn: (_message, fields) => warnings.push(fields),
      error: (_message, fields) => errors.push(fields),
    });
    expect(result.valid).to.have.length(7);
    expect(result.invalid.map((entry) => entry.reason)).to.deep.equal([
      'missing_event_type',
      'empty_event_type',
      'payload_malformed_json',
    ]);
    expect(result.errorCounts).to.deep.equal({ missing_event_type: 1, empty_event_type: 1, payload_malformed_json: 1 });
    expect(warnings).to.deep.equal([
      { index: 7, reason: 'missing_event_type' },
      { index: 8, reason: 'empty_event_type' },
    ]);
    expect(errors).to.deep.equal([{ index: 9, reason: 'payload_malformed_json' }]);
  });
});

import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import { deadLetterEnvelopeSchema, platformEventSchema } from '@platform-host/contracts/message-schemas';
import { arbitraryFromJsonSchema, messageArbitrary, type JsonSchemaInput } from './schema-arbitraries.js';

const schemaFile = (name: string): JsonSchemaInput =>
  JSON.parse(readFileSync(new URL(`../../../schemas/${name}`, import.meta.url), 'utf8')) as JsonSchemaInput;

const NUM_RUNS = 500;

describe('arbitraries derived from a JSON Schema', () => {
  it(`generates platform events the zod schema accepts, and breaks exactly one rule in the negative arm (${NUM_RUNS} cases)`, () => {
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(messageArbitrary(schemaFile('platform-event.schema.json')), (message) => {
        kinds.set(message.kind, (kinds.get(message.kind) ?? 0) + 1);
        let parsed: unknown;
        try {
          parsed = JSON.parse(
            typeof message.value === 'string'
              ? message.value
              : new TextDecoder('utf-8', { fatal: true }).decode(message.value),
          );
        } catch {
          expect(message.kind).to.be.oneOf(['not_json', 'not_utf8']);
          return;
        }
        const result = platformEventSchema.safeParse(parsed);
        expect(result.success, `${message.kind}: ${String(message.value)}`).to.equal(message.kind === 'valid');
      }),
      { numRuns: NUM_RUNS },
    );
    // Every arm was drawn: the negative cases are not a dead branch.
    expect([...kinds.keys()].sort()).to.deep.equal(
      ['missing_required', 'not_an_object', 'not_json', 'not_utf8', 'unknown_field', 'valid', 'wrong_type'].sort(),
    );
  });

  it('generates dead letters the zod schema accepts', () => {
    fc.assert(
      fc.property(arbitraryFromJsonSchema(schemaFile('dead-letter.schema.json')), (value) => {
        expect(deadLetterEnvelopeSchema.safeParse(value).success, JSON.stringify(value)).to.equal(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a keyword it does not know instead of generating values the schema may refuse', () => {
    expect(() => arbitraryFromJsonSchema({ type: 'string', not: { const: '' } })).to.throw('"not"');
  });
});

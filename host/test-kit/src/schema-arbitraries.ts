import fc from 'fast-check';
import { JSON_SCHEMA_ANNOTATION_KEYWORDS } from '@platform-host/contracts';

/**
 * fast-check arbitraries derived from a JSON Schema (seed 10.4 consumer tests): values the schema
 * accepts, with the edges a queue consumer meets — any Unicode (astral planes, combining marks,
 * U+0000), numbers at the edges of doubles and integers beyond 2^53, optional fields left out and
 * extra fields where the schema allows them — and values it refuses, made by breaking one rule of
 * a valid value (a required field missing, a field of the wrong type, an unknown field, not an
 * object, not JSON).
 *
 * Written here because the maintained zod-to-fast-check package (zod-fast-check) supports zod 3
 * and fast-check 3 only; it covers the keywords the platform's schemas use: type (one or a list),
 * properties, required, additionalProperties, propertyNames, items, anyOf/oneOf, enum, const,
 * minLength/maxLength, pattern, format (date-time, base64), minimum/maximum, minItems/maxItems.
 * An unknown keyword throws, so a schema is never silently generated wrong.
 */
export type JsonSchemaInput = boolean | { readonly [keyword: string]: unknown };

type SchemaObject = { readonly [keyword: string]: unknown };

const SUPPORTED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'anyOf',
  'oneOf',
  'enum',
  'const',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
]);

/** Strings with any Unicode code point (not only ASCII), including U+0000 and astral characters. */
export function unicodeText(constraints: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', ...constraints }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', ...constraints }) },
    { weight: 1, arbitrary: fc.string({ ...constraints }) },
  );
}

/** Numbers at the edges: any double that JSON can carry, integers beyond 2^53, -0, tiny and huge values. */
export function edgyNumber(): fc.Arbitrary<number> {
  return fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(
      0,
      -0,
      Number.MAX_SAFE_INTEGER + 2,
      -Number.MAX_SAFE_INTEGER - 2,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      1e21,
      2 ** 53 + 2,
    ),
  );
}

/** Any JSON value (objects nest a few levels), with {@link unicodeText} keys and strings and {@link edgyNumber}s. */
export function anyJsonValue(): fc.Arbitrary<unknown> {
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      edgyNumber(),
      unicodeText({ maxLength: 40 }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(unicodeText({ maxLength: 12 }), tie('value'), { maxKeys: 4 }),
    ),
  }));
  return value;
}

function asSchemaObject(schema: unknown): SchemaObject {
  if (schema === true || schema === undefined) return {};
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new Error(`cannot derive values from the JSON Schema ${JSON.stringify(schema)}`);
  }
  return schema as SchemaObject;
}

function checkKeywords(schema: SchemaObject): void {
  for (const keyword of Object.keys(schema)) {
    if (!JSON_SCHEMA_ANNOTATION_KEYWORDS.has(keyword) && !SUPPORTED.has(keyword)) {
      throw new Error(`cannot derive values from the JSON Schema keyword "${keyword}"`);
    }
  }
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** RFC 3339 date-times: Z or an offset, with and without fractions, years 0000 to 9999. */
function dateTime(): fc.Arbitrary<string> {
  return fc
    .record({
      ms: fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59Z') }),
      fraction: fc.oneof(fc.constant(''), fc.stringMatching(/^\.\d{1,9}$/)),
      offsetMinutes: fc.oneof(fc.constant(undefined), fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 })),
    })
    .map(({ ms, fraction, offsetMinutes }) => {
      const local = new Date(ms + (offsetMinutes ?? 0) * 60_000);
      const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}`;
      const time = `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}`;
      const sign = (offsetMinutes ?? 0) < 0 ? '-' : '+';
      const abs = Math.abs(offsetMinutes ?? 0);
      const zone = offsetMinutes === undefined ? 'Z' : `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
      return `${date}T${time}${fraction}${zone}`;
    });
}

function stringArbitrary(schema: SchemaObject): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const maxLength = typeof schema.maxLength === 'number' ? schema.maxLength : undefined;
  const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern, 'u') : undefined;
  let base: fc.Arbitrary<string>;
  if (schema.format === 'date-time') base = dateTime();
  else if (schema.format === 'base64')
    base = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('base64'));
  else if (schema.format !== undefined)
    throw new Error(`cannot derive strings of the format ${JSON.stringify(schema.format)}`);
  else if (pattern && /^\^/.test(pattern.source)) base = fc.stringMatching(pattern);
  else base = unicodeText({ minLength, ...(maxLength === undefined ? {} : { maxLength: Math.min(maxLength, 300) }) });
  return base.filter(
    (text) =>
      text.length >= minLength &&
      (maxLength === undefined || text.length <= maxLength) &&
      (!pattern || pattern.test(text)),
  );
}

function numberArbitrary(schema: SchemaObject, integer: boolean): fc.Arbitrary<number> {
  const min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
  const max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
  const inRange = (n: number): boolean => (min === undefined || n >= min) && (max === undefined || n <= max);
  if (integer) {
    return fc
      .oneof(
        fc.integer({ min: Math.max(min ?? -(2 ** 31), -(2 ** 31)), max: Math.min(max ?? 2 ** 31 - 1, 2 ** 31 - 1) }),
        fc.maxSafeInteger(),
      )
      .filter(inRange);
  }
  return fc
    .oneof(
      edgyNumber(),
      fc.double({
        noNaN: true,
        noDefaultInfinity: true,
        ...(min === undefined ? {} : { min }),
        ...(max === undefined ? {} : { max }),
      }),
    )
    .filter(inRange);
}

function objectArbitrary(schema: SchemaObject): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, propertySchema] of Object.entries(properties))
    record[name] = arbitraryFromJsonSchema(propertySchema as JsonSchemaInput);
  const requiredKeys = Object.keys(properties).filter((name) => required.has(name));
  const declared = fc.record(record, { requiredKeys });
  const extras = schema.additionalProperties;
  if (extras === false) return declared;
  const keyArbitrary =
    schema.propertyNames !== undefined
      ? (arbitraryFromJsonSchema(schema.propertyNames as JsonSchemaInput) as fc.Arbitrary<string>)
      : unicodeText({ maxLength: 12 });
  const extraValue =
    extras === undefined || extras === true ? anyJsonValue() : arbitraryFromJsonSchema(extras as JsonSchemaInput);
  return fc
    .tuple(
      declared,
      fc.dictionary(
        keyArbitrary.filter((key) => !(key in properties) && key !== '__proto__'),
        extraValue,
        { maxKeys: 3 },
      ),
    )
    .map(([known, extra]) => ({ ...extra, ...known }));
}

/** Values `schema` accepts (see the module comment for the keywords and edges covered). */
export function arbitraryFromJsonSchema(schema: JsonSchemaInput): fc.Arbitrary<unknown> {
  if (schema === false) throw new Error('the JSON Schema false accepts no value');
  const object = asSchemaObject(schema);
  checkKeywords(object);
  if (object.const !== undefined) return fc.constant(object.const);
  if (Array.isArray(object.enum)) return fc.constantFrom(...(object.enum as unknown[]));
  const branches = (object.anyOf ?? object.oneOf) as JsonSchemaInput[] | undefined;
  if (Array.isArray(branches)) return fc.oneof(...branches.map((branch) => arbitraryFromJsonSchema(branch)));
  const types = object.type === undefined ? undefined : ([object.type].flat() as string[]);
  if (types === undefined) return anyJsonValue();
  const arms = types.map((type): fc.Arbitrary<unknown> => {
    switch (type) {
      case 'string':
        return stringArbitrary(object);
      case 'number':
        return numberArbitrary(object, false);
      case 'integer':
        return numberArbitrary(object, true);
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'object':
        return objectArbitrary(object);
      case 'array':
        return fc.array(arbitraryFromJsonSchema((object.items ?? true) as JsonSchemaInput), {
          minLength: typeof object.minItems === 'number' ? object.minItems : 0,
          maxLength: typeof object.maxItems === 'number' ? object.maxItems : 5,
        });
      default:
        throw new Error(`cannot derive values of the JSON Schema type "${type}"`);
    }
  });
  return arms.length === 1 && arms[0] ? arms[0] : fc.oneof(...arms);
}

/** A value of a JSON type other than the ones listed (the wrong-type arm of the negative cases). */
function otherTypeThan(types: readonly string[] | undefined): fc.Arbitrary<unknown> {
  const all: Array<[string, fc.Arbitrary<unknown>]> = [
    ['string', unicodeText({ maxLength: 20 })],
    ['number', edgyNumber()],
    ['boolean', fc.boolean()],
    ['null', fc.constant(null)],
    ['object', fc.dictionary(unicodeText({ maxLength: 8 }), fc.integer(), { maxKeys: 2 })],
    ['array', fc.array(fc.integer(), { maxLength: 3 })],
  ];
  const allowed = new Set(types ?? []);
  if (allowed.has('integer')) allowed.add('number');
  const others = all.filter(([type]) => !allowed.has(type)).map(([, arbitrary]) => arbitrary);
  return fc.oneof(...others);
}

/** One message value for a consumer test: what it is, and why it should be refused when it should. */
export interface GeneratedMessage {
  /** `valid`: the schema accepts the value; otherwise the rule the value breaks. */
  readonly kind:
    'valid' | 'missing_required' | 'wrong_type' | 'unknown_field' | 'not_an_object' | 'not_json' | 'not_utf8';
  /** The field the broken rule is about, when it is one field. */
  readonly field?: string;
  /** The message value as it goes on the queue: JSON text, or not JSON (`not_json`), or bytes that are not UTF-8 (`not_utf8`). */
  readonly value: string | Uint8Array;
}

/**
 * Message values for an object schema such as the platform event: mostly valid ones (from
 * {@link arbitraryFromJsonSchema}), and one broken rule each for the negative arm. A value that
 * happens to stay valid after breaking (a wrong type the schema also allows) is not produced.
 */
export function messageArbitrary(schema: JsonSchemaInput, validWeight = 3): fc.Arbitrary<GeneratedMessage> {
  const object = asSchemaObject(schema);
  const valid = arbitraryFromJsonSchema(schema) as fc.Arbitrary<Record<string, unknown>>;
  const properties = (object.properties ?? {}) as Record<string, SchemaObject>;
  const required = Array.isArray(object.required) ? (object.required as string[]) : [];
  const arms: Array<fc.WeightedArbitrary<GeneratedMessage>> = [
    { weight: validWeight, arbitrary: valid.map((value) => ({ kind: 'valid', value: JSON.stringify(value) })) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.array(fc.integer(), { maxLength: 3 }),
          unicodeText({ maxLength: 20 }),
          edgyNumber(),
          fc.constant(null),
        )
        .map((value) => ({ kind: 'not_an_object', value: JSON.stringify(value) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          unicodeText({ maxLength: 30 }).filter((text) => {
            try {
              JSON.parse(text);
              return false;
            } catch {
              return true;
            }
          }),
          valid.map((value) => JSON.stringify(value).slice(0, -1)),
        )
        .map((text) => ({ kind: 'not_json', value: text })),
    },
    {
      weight: 1,
      // A lone continuation byte or a truncated sequence: no UTF-8 decoder accepts these bytes.
      arbitrary: fc
        .tuple(valid, fc.constantFrom([0x80], [0xc3], [0xff, 0xfe], [0xed, 0xa0, 0x80]))
        .map(([value, bad]) => {
          const text = Buffer.from(JSON.stringify(value));
          const at = Math.max(1, text.length - 2);
          return {
            kind: 'not_utf8',
            value: Buffer.concat([text.subarray(0, at), Buffer.from(bad), text.subarray(at)]),
          };
        }),
    },
  ];
  if (required.length > 0) {
    arms.push({
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom(...required)).map(([value, field]) => {
        const copy: Record<string, unknown> = { ...value };
        delete copy[field];
        return { kind: 'missing_required', field, value: JSON.stringify(copy) };
      }),
    });
  }
  const typed = Object.entries(properties).filter(([, property]) => property.type !== undefined);
  if (typed.length > 0) {
    arms.push({
      weight: 1,
      arbitrary: fc.constantFrom(...typed).chain(([field, property]) =>
        fc.tuple(valid, otherTypeThan([property.type].flat() as string[])).map(([value, wrong]): GeneratedMessage => ({
          kind: 'wrong_type',
          field,
          value: JSON.stringify({ ...value, [field]: wrong }),
        })),
      ),
    });
  }
  if (object.additionalProperties === false) {
    arms.push({
      weight: 1,
      arbitrary: fc
        .tuple(
          valid,
          unicodeText({ minLength: 1, maxLength: 10 }).filter((key) => !(key in properties) && key !== '__proto__'),
          fc.integer(),
        )
        .map(([value, field, extra]) => ({
          kind: 'unknown_field',
          field,
          value: JSON.stringify({ ...value, [field]: extra }),
        })),
    });
  }
  return fc.oneof(...arms);
}

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  JSON_SCHEMA_ANNOTATION_KEYWORDS,
  MESSAGE_SCHEMA_IDS,
  type ConsumedMessageDeclaration,
  type ModuleManifest,
  type TopicRef,
} from '@platform-host/contracts';
import { PLATFORM_MESSAGE_SCHEMAS } from '@platform-host/contracts/message-schemas';
import { jsonSchemaOf } from './json-schemas.js';
import { patternInclusion } from './pattern-inclusion.js';

/** A JSON Schema as parsed JSON (draft 2020-12 keywords; `true` accepts anything). */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** The schema a message declaration names, loaded. */
export interface LoadedMessageSchema {
  /** `platform-event@1.0.0`, or the module-relative path of a module's own file. */
  readonly label: string;
  /** The platform schema id, when it is one. */
  readonly id: string | undefined;
  /** Where it came from: the id, or the absolute path of the file. */
  readonly source: string;
  readonly json: JsonSchema;
}

/** One topic a module produces or consumes, with its topic name resolved where it can be. */
export interface ResolvedMessageDeclaration {
  readonly module: string;
  readonly direction: 'produces' | 'consumes';
  /** The topic name, or undefined when it depends on an argument that has no value or default. */
  readonly topic: string | undefined;
  /** How the manifest wrote it: `events`, `<topic>.dead-letter`, `{arg: topic}`. */
  readonly written: string;
  readonly schema: string;
  readonly deadLetterReasons: readonly string[];
}

function isPlatformSchemaId(ref: string): ref is (typeof MESSAGE_SCHEMA_IDS)[number] {
  return (MESSAGE_SCHEMA_IDS as readonly string[]).includes(ref);
}

/** How a topic reference reads in text: `events`, `<topic>.dead-letter` or `{arg: topic}`. */
export function describeTopicRef(topic: TopicRef): string {
  return typeof topic === 'string' ? topic : `{arg: ${topic.arg}}`;
}

/**
 * The topic a reference names, given the module's argument values (`values`, by argument name;
 * an argument missing there takes its manifest default). Undefined when an argument it needs has
 * neither (a required `--topic` not given).
 */
export function resolveTopic(
  manifest: ModuleManifest,
  topic: TopicRef,
  values: ReadonlyMap<string, unknown> = new Map(),
): string | undefined {
  const valueOf = (name: string): string | undefined => {
    const value = values.get(name) ?? manifest.args.find((arg) => arg.name === name)?.default;
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  if (typeof topic !== 'string') return valueOf(topic.arg);
  let unresolved = false;
  const name = topic.replace(/<([a-z][a-z0-9-]*)>/g, (_, arg: string) => {
    const value = valueOf(arg);
    if (value === undefined) unresolved = true;
    return value ?? '';
  });
  return unresolved ? undefined : name;
}

/** Every message declaration of a module, topics resolved with `values` (else the arguments' defaults). */
export function messageDeclarations(
  manifest: ModuleManifest,
  values?: ReadonlyMap<string, unknown>,
): ResolvedMessageDeclaration[] {
  const out: ResolvedMessageDeclaration[] = [];
  const declared: ReadonlyArray<['produces' | 'consumes', ConsumedMessageDeclaration]> = [
    ...(manifest.messages?.produces ?? []).map((d): ['produces', ConsumedMessageDeclaration] => ['produces', d]),
    ...(manifest.messages?.consumes ?? []).map((d): ['consumes', ConsumedMessageDeclaration] => ['consumes', d]),
  ];
  for (const [direction, declaration] of declared) {
    out.push({
      module: manifest.name,
      direction,
      topic: resolveTopic(manifest, declaration.topic, values),
      written: describeTopicRef(declaration.topic),
      schema: declaration.schema,
      deadLetterReasons: declaration.dead_letter_reasons ?? [],
    });
  }
  return out;
}

/**
 * Loads the schema a declaration names: a platform id from the contracts' zod schemas, or a JSON
 * Schema file of the module's own (relative to `moduleDir`). Throws an Error naming the file when
 * it cannot be read or parsed.
 */
export function loadMessageSchema(ref: string, moduleDir: string): LoadedMessageSchema {
  if (isPlatformSchemaId(ref)) {
    const platform = PLATFORM_MESSAGE_SCHEMAS[ref];
    return {
      label: `${ref}@${platform.version}`,
      id: ref,
      source: ref,
      json: jsonSchemaOf(platform.schema, platform.file, platform.title) as JsonSchema,
    };
  }
  const path = resolve(moduleDir, ref);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`message schema ${ref} cannot be read as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof json !== 'boolean' && (typeof json !== 'object' || json === null || Array.isArray(json))) {
    throw new Error(`message schema ${ref} is not a JSON Schema (an object or a boolean)`);
  }
  return { label: ref, id: undefined, source: path, json: json as JsonSchema };
}

// Keywords this check understands.
const CHECKED = new Set([
  'type',
  'anyOf',
  'oneOf',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'enum',
  'const',
]);

type SchemaObject = { readonly [keyword: string]: unknown };

function asObject(schema: unknown): SchemaObject | undefined {
  return typeof schema === 'object' && schema !== null && !Array.isArray(schema) ? (schema as SchemaObject) : undefined;
}

const ALL_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];

/** The JSON types a schema lets through (`integer` included in `number`), looking into anyOf/oneOf. */
function typesOf(schema: unknown): Set<string> {
  const object = asObject(schema);
  if (schema === false) return new Set();
  if (!object) return new Set(ALL_TYPES);
  const branches = (object.anyOf ?? object.oneOf) as unknown[] | undefined;
  let types: Set<string>;
  if (typeof object.type === 'string') types = new Set([object.type]);
  else if (Array.isArray(object.type)) types = new Set(object.type as string[]);
  else if (Array.isArray(branches)) types = new Set(branches.flatMap((branch) => [...typesOf(branch)]));
  else types = new Set(ALL_TYPES);
  if (types.has('number')) types.add('integer');
  return types;
}

function at(path: string, text: string): string {
  return path === '' ? text : `${path}: ${text}`;
}

/**
 * Why `consumer` may refuse a value that `producer` allows, as readable lines (empty: every value
 * the producer's schema allows, the consumer's accepts). A structural check of the JSON Schema
 * keywords platform schemas use (type, properties, required, additionalProperties, anyOf/oneOf,
 * string/number/array bounds, pattern, format, enum): it is conservative — a constraint of the
 * consumer it cannot prove the producer keeps (an unknown keyword, a pattern with lookarounds) is
 * reported, never assumed fine — so it may warn about schemas that are in fact compatible, but
 * does not stay silent about a field the consumer requires and the producer leaves optional.
 * Patterns are compared exactly, as regular languages ({@link patternInclusion}): a different
 * pattern that allows no string the consumer's refuses is fine, and one that does is reported
 * with such a string.
 */
export function incompatibilities(consumer: unknown, producer: unknown, path = ''): string[] {
  if (consumer === true || (asObject(consumer) !== undefined && Object.keys(consumer as object).length === 0))
    return [];
  if (JSON.stringify(consumer) === JSON.stringify(producer)) return [];
  const c = asObject(consumer);
  if (!c) return [at(path, 'the consumer accepts nothing here')];
  const p = asObject(producer) ?? {};
  const reasons: string[] = [];
  for (const keyword of Object.keys(c)) {
    if (!JSON_SCHEMA_ANNOTATION_KEYWORDS.has(keyword) && !CHECKED.has(keyword)) {
      reasons.push(at(path, `the consumer's "${keyword}" is not checked against the producer`));
    }
  }
  const producerBranches = (p.anyOf ?? p.oneOf) as unknown[] | undefined;
  if (Array.isArray(producerBranches) && p.type === undefined) {
    return [...reasons, ...producerBranches.flatMap((branch) => incompatibilities(consumer, branch, path))];
  }
  const consumerBranches = (c.anyOf ?? c.oneOf) as unknown[] | undefined;
  if (Array.isArray(consumerBranches)) {
    const tried = consumerBranches.map((branch) => incompatibilities(branch, producer, path));
    if (!tried.some((list) => list.length === 0)) {
      const best = tried.reduce((a, b) => (b.length < a.length ? b : a), tried[0] ?? []);
      reasons.push(...best);
    }
  }
  const consumerTypes = typesOf({ type: c.type });
  const producerTypes = typesOf(p.type === undefined && !Array.isArray(producerBranches) ? {} : { type: p.type });
  const missing = [...producerTypes].filter((type) => !consumerTypes.has(type) && type !== 'integer');
  if (c.type !== undefined && missing.length > 0) {
    reasons.push(
      at(path, `the producer may send ${missing.join(' or ')}, the consumer takes only ${JSON.stringify(c.type)}`),
    );
  }
  const lower = (key: string, what: string): void => {
    const cv = c[key];
    const pv = p[key];
    if (typeof cv === 'number' && (typeof pv !== 'number' || pv < cv))
      reasons.push(
        at(path, `the consumer needs ${what} ${cv}, the producer promises ${typeof pv === 'number' ? pv : 'none'}`),
      );
  };
  const upper = (key: string, what: string): void => {
    const cv = c[key];
    const pv = p[key];
    if (typeof cv === 'number' && (typeof pv !== 'number' || pv > cv))
      reasons.push(
        at(
          path,
          `the consumer allows ${what} ${cv}, the producer promises ${typeof pv === 'number' ? pv : 'no limit'}`,
        ),
      );
  };
  lower('minLength', 'a length of at least');
  upper('maxLength', 'a length of at most');
  lower('minimum', 'a value of at least');
  upper('maximum', 'a value of at most');
  lower('minItems', 'at least items:');
  upper('maxItems', 'at most items:');
  if (typeof c.pattern === 'string' && c.pattern !== p.pattern) {
    const promise = {
      ...(typeof p.pattern === 'string' ? { pattern: p.pattern } : {}),
      ...(typeof p.minLength === 'number' ? { minLength: p.minLength } : {}),
      ...(typeof p.maxLength === 'number' ? { maxLength: p.maxLength } : {}),
    };
    const inclusion = patternInclusion(c.pattern, promise);
    if (inclusion.included !== true)
      reasons.push(
        at(
          path,
          `the consumer requires the pattern ${JSON.stringify(c.pattern)}, which the producer does not promise${
            inclusion.included === false
              ? ` (it may send ${JSON.stringify(inclusion.example)})`
              : ` (the patterns cannot be compared: ${inclusion.why})`
          }`,
        ),
      );
  } else if (c.pattern !== undefined && c.pattern !== p.pattern) {
    reasons.push(at(path, `the consumer's pattern ${JSON.stringify(c.pattern)} is not a string`));
  }
  if (c.format !== undefined && c.format !== p.format)
    reasons.push(
      at(
        path,
        `the consumer requires the format ${JSON.stringify(c.format)}, the producer promises ${JSON.stringify(p.format ?? 'none')}`,
      ),
    );
  for (const key of ['enum', 'const'] as const) {
    if (c[key] !== undefined && JSON.stringify(c[key]) !== JSON.stringify(p[key]))
      reasons.push(at(path, `the consumer allows only ${JSON.stringify(c[key])}`));
  }
  if (consumerTypes.has('object') && producerTypes.has('object')) reasons.push(...objectIncompatibilities(c, p, path));
  if (c.items !== undefined && producerTypes.has('array'))
    reasons.push(...incompatibilities(c.items, p.items ?? {}, `${path}[]`));
  return reasons;
}

function objectIncompatibilities(c: SchemaObject, p: SchemaObject, path: string): string[] {
  const reasons: string[] = [];
  const field = (name: string): string => (path === '' ? name : `${path}.${name}`);
  const consumerProps = asObject(c.properties) ?? {};
  const producerProps = asObject(p.properties) ?? {};
  const producerRequired = new Set(Array.isArray(p.required) ? (p.required as string[]) : []);
  for (const name of Array.isArray(c.required) ? (c.required as string[]) : []) {
    if (!producerRequired.has(name)) {
      reasons.push(
        name in producerProps || p.additionalProperties !== false
          ? `${field(name)}: required by the consumer, optional for the producer`
          : `${field(name)}: required by the consumer, never sent by the producer`,
      );
    }
  }
  for (const [name, schema] of Object.entries(producerProps)) {
    if (name in consumerProps) reasons.push(...incompatibilities(consumerProps[name], schema, field(name)));
    else if (c.additionalProperties === false)
      reasons.push(`${field(name)}: the producer may send it, the consumer refuses fields it does not list`);
    else if (c.additionalProperties !== undefined)
      reasons.push(...incompatibilities(c.additionalProperties, schema, field(name)));
  }
  if (p.additionalProperties !== false) {
    if (c.additionalProperties === false)
      reasons.push(at(path, 'the producer allows fields it does not list, the consumer refuses them'));
    else if (c.additionalProperties !== undefined)
      reasons.push(...incompatibilities(c.additionalProperties, p.additionalProperties ?? {}, field('*')));
  }
  if (c.propertyNames !== undefined)
    reasons.push(...incompatibilities(c.propertyNames, p.propertyNames ?? { type: 'string' }, field('(name)')));
  return reasons;
}

/**
 * Whether `consumer` accepts what `producer` declares: the same platform schema (one version per
 * host) or the same file is accepted outright; anything else is checked by
 * {@link incompatibilities}.
 */
export function schemaCompatibility(consumer: LoadedMessageSchema, producer: LoadedMessageSchema): string[] {
  if (consumer.source === producer.source) return [];
  return incompatibilities(consumer.json, producer.json);
}

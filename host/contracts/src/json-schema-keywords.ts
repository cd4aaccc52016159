/**
 * JSON Schema keywords that only annotate: they never make a schema refuse a value. Tools that
 * read the platform's message schemas (`doctor`'s producer/consumer check, the test kit's
 * generators) skip them and refuse keywords they do not understand.
 */
export const JSON_SCHEMA_ANNOTATION_KEYWORDS: ReadonlySet<string> = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  'contentEncoding',
  'contentMediaType',
  'x-platform-schema-version',
]);

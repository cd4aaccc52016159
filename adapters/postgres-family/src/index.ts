// Code shared by the PostgreSQL-family database adapters (postgres, pglite): query errors,
// identifier quoting, COPY text encoding, array parsing, the bulk-insert catalog lookup, the
// health-check race, the server-side cursor behind `stream`.
export * from './query-error.js';
export * from './identifiers.js';
export * from './copy-text.js';
export * from './array-literal.js';
export * from './catalog.js';
export * from './health-check.js';
export * from './cursor.js';

// Code shared by the PostgreSQL-family database adapters (postgres, pglite): query errors,
// identifier quoting, COPY text encoding, array parsing.
export * from './query-error.js';
export * from './identifiers.js';
export * from './copy-text.js';
export * from './array-literal.js';

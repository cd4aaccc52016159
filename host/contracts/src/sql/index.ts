// Helpers for PostgreSQL-family database adapters: identifier quoting, COPY text encoding, errors.
export * from './query-error.js';
export * from './identifiers.js';
export * from './copy-text.js';
export * from './array-literal-parser.js';

import { fileURLToPath } from 'node:url';

/**
 * The migrations folder (holding `src/NNN_name.ts` and compiled `dist/`), for `MigrationRunner`.
 * The host finds it by itself as `<project root>/migrations` or `PLATFORM_MIGRATIONS_DIR`.
 */
export const MIGRATIONS_DIR: string = fileURLToPath(new URL('..', import.meta.url));

/**
 * One owner's migrations (DESIGN.md decision 12): the shared set or one module's, for one dialect.
 * `postgresql` files are `NNN_description.ts` in `sourceDir`, compiled to `NNN_description.js` in
 * `compiledDir`; `cql` files are `NNN_description.cql`, read from `sourceDir` (else `compiledDir`).
 * Checksums are taken from the sources when they are there (so a new compiler does not make every
 * migration look changed), else from the compiled files (a package published without sources).
 */
export interface MigrationSet {
  /** `shared`, or the module's name. */
  readonly owner: string;
  readonly sourceDir: string | undefined;
  readonly compiledDir: string;
}

/** A migration file of one {@link MigrationSet}. */
export interface MigrationFile {
  readonly owner: string;
  readonly number: number;
  /** File name without extension, e.g. `002_create_events_table`. */
  readonly name: string;
  readonly sourcePath: string;
  readonly compiledPath: string;
  /** sha256 of the source (or compiled file) with line endings normalized. */
  readonly checksum: string;
}

/** Where a migration file stands against the tracking table (`missing`: applied, file gone). */
export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing';

/** One migration's state, as `migrate status` prints it. */
export interface MigrationStatus {
  readonly owner: string;
  readonly number: number;
  readonly name: string;
  readonly state: MigrationState;
  readonly appliedAt: Date | undefined;
}

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

/** A row of the tracking table (`_migrations`), in either dialect. */
export interface AppliedMigration {
  readonly owner: string;
  readonly name: string;
  /** `null` on rows of releases that did not record checksums. */
  readonly checksum: string | null;
  readonly appliedAt: Date | undefined;
}

const migrationKey = (owner: string, name: string): string => `${owner}/${name}`;

/**
 * What `migrate status` lists for the selected `owners` (in their order, then by number): every
 * file with its state (`pending`, `changed` when the applied checksum differs, else `applied`),
 * and every applied row of those owners whose file is gone (`missing`). Rows of other owners are
 * left out: `--module` narrows the listing to one owner.
 */
export function migrationStatuses(
  files: readonly MigrationFile[],
  applied: Iterable<AppliedMigration>,
  owners: readonly string[],
): MigrationStatus[] {
  const rows = new Map([...applied].map((row) => [migrationKey(row.owner, row.name), row]));
  const out: MigrationStatus[] = files.map((file) => {
    const row = rows.get(migrationKey(file.owner, file.name));
    const state: MigrationState = !row
      ? 'pending'
      : row.checksum !== null && row.checksum !== file.checksum
        ? 'changed'
        : 'applied';
    return { owner: file.owner, number: file.number, name: file.name, state, appliedAt: row?.appliedAt };
  });
  const fileKeys = new Set(files.map((file) => migrationKey(file.owner, file.name)));
  const selected = new Set(owners);
  for (const row of rows.values()) {
    if (selected.has(row.owner) && !fileKeys.has(migrationKey(row.owner, row.name))) {
      out.push({
        owner: row.owner,
        number: Number(row.name.split('_')[0]),
        name: row.name,
        state: 'missing',
        appliedAt: row.appliedAt,
      });
    }
  }
  return out.sort((a, b) => owners.indexOf(a.owner) - owners.indexOf(b.owner) || a.number - b.number);
}

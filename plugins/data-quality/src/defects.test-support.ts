import type { Database } from '@platform-host/contracts';

/**
 * A table with known defects, the same on PGlite and PostgreSQL (100 rows, `amount` 1..100):
 * - `source` NULL in 7 rows (ids 1-7): missing 7, 7 %;
 * - `source` 'fax' in 2 rows (ids 8, 9), not one of web/mobile/api: invalid 2, 2 %;
 * - `event_type` 'Bad-Type' in 3 rows (ids 10-12), not matching ^[a-z_]+$: invalid 3;
 * - `dedup_key` of ids 91-100 repeats ids 1-10: 10 duplicate rows, 10 %;
 * - newest `created_at` 3 days before the insert; `event_date` of ids 99, 100 in the future;
 * - `amount` min 1, max 100, avg 50.5.
 */
export async function createDefectTable(db: Database, table: string): Promise<void> {
  await db.execute(`CREATE TABLE ${table} (
    id BIGINT PRIMARY KEY,
    event_type TEXT NOT NULL,
    source TEXT,
    payload JSONB NOT NULL,
    amount NUMERIC NOT NULL,
    event_date DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    dedup_key TEXT NOT NULL
  )`);
  await db.execute(
    `INSERT INTO ${table} (id, event_type, source, payload, amount, event_date, created_at, dedup_key)
     SELECT i,
            CASE WHEN i BETWEEN 10 AND 12 THEN 'Bad-Type' ELSE 'page_view' END,
            CASE WHEN i <= 7 THEN NULL WHEN i IN (8, 9) THEN 'fax' WHEN i % 3 = 0 THEN 'mobile' ELSE 'web' END,
            jsonb_build_object('seq', i),
            i,
            CASE WHEN i >= 99 THEN current_date + 3 ELSE current_date - 1 END,
            now() - interval '3 days' - (i || ' minutes')::interval + interval '1 minute',
            'k' || CASE WHEN i > 90 THEN i - 90 ELSE i END
       FROM generate_series(1, $1::int) AS i`,
    [100],
  );
}

/** A checks file over the defect table: what fails, warns and passes is stated per check. */
export function defectChecks(table: string): string {
  return `checks:
  - table: ${table}
    checks:
      - row_count: { fail: "< 1" }                                         # 100: pass
      - missing_percent(source): { warn: "> 1", fail: "> 5" }             # 7: fail
      - missing_count(source): { warn: "> 0" }                             # 7: warn
      - missing_count(payload): { fail: "> 0" }                            # 0: pass
      - duplicate_count(dedup_key): { fail: "> 0" }                        # 10: fail
      - duplicate_percent(dedup_key): { warn: "> 5", fail: "> 50" }        # 10: warn
      - freshness(created_at): { warn: "> 1d", fail: "> 7d" }             # 3d: warn
      - invalid_count(event_type): { valid_regex: "^[a-z_]+$", fail: "> 0" }   # 3: fail
      - invalid_percent(source): { valid_values: [web, mobile, api], warn: "> 1" }   # 2: warn
      - min(amount): { fail: "< 0" }                                       # 1: pass
      - max(amount): { fail: "> 99", severity: warn }                      # 100: warn (severity)
      - avg(amount): { warn: "not between 1 and 500" }                     # 50.5: pass
      - sql:
          name: no_future_events
          query: "select count(*) from ${table} where event_date > current_date"
          fail: "> 0"
          samples: "select id, event_date from ${table} where event_date > current_date order by id"
`;
}

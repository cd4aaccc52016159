import { createServer, type Server } from 'node:net';
import { expect } from 'chai';
import { cliEnv, platformHost } from './support/cli.js';

/** The postgresql-only modules, with arguments that pass their checks (so the dialect is what is refused). */
const POSTGRESQL_ONLY: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['batch_etl', ['--fs', 'local', '--date', '2026-01-15', '--source-path', 'raw/events']],
  ['data_quality', ['--checks', 'checks.yaml']],
  ['api_gateway', ['--cache', 'memory', '--mq', 'memory']],
  ['stream_ingest', ['--fs', 'local', '--mq', 'memory', '--topic', 'events']],
];

/**
 * Issue 15 item 3: a module that accepts only `postgresql` is refused with `--db cassandra` by
 * `run` and by `doctor`, exit 2, naming the module, the dialects it accepts and the one selected,
 * before anything connects. DB_CASSANDRA_HOSTS points at a listener of this test that counts the
 * connections it gets: there must be none.
 */
describe('dialect checks through the CLI: postgresql-only modules with --db cassandra', function () {
  this.timeout(120_000);
  let listener: Server;
  let connections = 0;
  let hosts = '';

  before(async function () {
    listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    hosts = `127.0.0.1:${(listener.address() as { port: number }).port}`;
  });

  after(async function () {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  const expected = (module: string): string =>
    `Module ${module} accepts the postgresql dialect, but --db cassandra (adapter cassandra) speaks cql`;

  for (const [module, args] of POSTGRESQL_ONLY) {
    it(`run ${module} --db cassandra exits 2 with PH_ERR_DB_DIALECT and connects to nothing`, async function () {
      const env = cliEnv({ DB_CASSANDRA_HOSTS: hosts, DB_CASSANDRA_PASSWORD: 'pw-never-shown' });
      const result = await platformHost(['run', module, '--db', 'cassandra', ...args], env);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.contain('PH_ERR_DB_DIALECT').and.contain(expected(module));
      expect(result.stderr + result.stdout).to.not.contain('pw-never-shown');
      expect(connections, 'connections to DB_CASSANDRA_HOSTS').to.equal(0);
    });

    it(`doctor ${module} --db cassandra exits 2 naming the dialect problem`, async function () {
      const env = cliEnv({ DB_CASSANDRA_HOSTS: hosts, DB_CASSANDRA_PASSWORD: 'pw-never-shown' });
      const result = await platformHost(['doctor', module, '--db', 'cassandra', ...args], env);
      expect(result.code, result.stdout + result.stderr).to.equal(2);
      expect(result.stdout).to.match(
        new RegExp(`✗ dialect\\s+${expected(module).replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}`),
      );
      expect(result.stderr + result.stdout).to.not.contain('pw-never-shown');
      expect(connections, 'connections to DB_CASSANDRA_HOSTS').to.equal(0);
    });
  }
});

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, type ServiceName } from '@platform-host/test-kit';
import { REPO_ROOT } from './support/cli.js';

const SMOKE = join(REPO_ROOT, 'deploy', 'native', 'smoke.sh');

/** Runs deploy/native/smoke.sh for one server: a round trip with an independent client. */
function smoke(server: ServiceName, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SMOKE, server], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const CLIENTS: Record<ServiceName, string> = {
  postgres: 'psql: create, insert, select, drop',
  redis: 'redis-cli: SET/GET on the cache database, XADD/XRANGE on the stream database',
  kafka: 'kcat: produce two messages to a new topic and consume them back',
  cassandra: 'a CQL round trip over the native protocol: create, insert, select, drop',
  'object-store': 'curl with SigV4: put, get, list, a presigned GET over HTTP, anonymous 403, delete',
  vault: 'the bao CLI and curl: KV v2 put, get, a missing path 404, a wrong token 403, delete',
};

for (const [server, client] of Object.entries(CLIENTS) as Array<[ServiceName, string]>) {
  describe(`${server} smoke test with an independent client`, function () {
    this.timeout(120_000);
    const service = useRealService(server);

    it(client, async () => {
      const vars = service();
      const env: NodeJS.ProcessEnv = { ...process.env, ...vars };
      // A container from testcontainers only names the MinIO variables; the S3 client reads FS_S3_*.
      if (server === 'object-store' && !env.FS_S3_ENDPOINT) {
        Object.assign(env, {
          FS_S3_ENDPOINT: vars.FS_MINIO_ENDPOINT,
          FS_S3_ACCESS_KEY: vars.FS_MINIO_ACCESS_KEY,
          FS_S3_SECRET_KEY: vars.FS_MINIO_SECRET_KEY,
          FS_S3_BUCKET: vars.FS_MINIO_BUCKET ?? 'platform-test',
          FS_S3_REGION: 'us-east-1',
        });
      }
      const { code, output } = await smoke(server, env);
      expect(output).to.contain(`${server}: OK`);
      expect(code, output).to.equal(0);
    });
  });
}

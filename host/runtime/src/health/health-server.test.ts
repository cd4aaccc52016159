import { expect } from 'chai';
import type { HealthCheckResult } from '@platform-host/contracts';
import { HostLifecycle } from '../lifecycle/host-lifecycle.js';
import { registerSecret } from '../redaction/redact.js';
import { HealthServer } from './health-server.js';
import type { HealthTarget } from './readiness.js';

async function get(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function target(name: string, adapter: string, check: () => Promise<HealthCheckResult>): HealthTarget {
  return { name, adapter, check };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('health endpoints', function () {
  let server: HealthServer | undefined;
  let lifecycle: HostLifecycle;

  beforeEach(() => {
    lifecycle = new HostLifecycle();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function listen(targets: HealthTarget[], checkTimeoutMs?: number): Promise<number> {
    server = new HealthServer(lifecycle, targets, checkTimeoutMs === undefined ? {} : { checkTimeoutMs });
    return server.listen(0, '127.0.0.1');
  }

  it("answers /health/ready in the seed's shape, adapter checks by context key and module checks by name, details beside", async () => {
    const port = await listen([
      target('db', 'postgres', () => Promise.resolve({ ok: true })),
      target('cache', 'redis', () => Promise.resolve({ ok: true })),
    ]);
    lifecycle.addReadinessCheck('consumer', () => ({ ok: true }));
    lifecycle.phase = 'running';
    const { status, body } = await get(port, '/health/ready');
    expect(status).to.equal(200);
    expect(body).to.deep.equal({
      status: 'ok',
      checks: { db: 'ok', cache: 'ok', consumer: 'ok' },
      details: { db: { adapter: 'postgres' }, cache: { adapter: 'redis' } },
    });
  });

  it('reports a failing check of a tolerated interface as degraded and stays 200; other failures still answer 503', async () => {
    let dbOk = true;
    const port = await listen([
      target('db', 'postgres', () => Promise.resolve({ ok: dbOk, detail: dbOk ? '' : 'db down' })),
      target('cache', 'redis', () =>
        Promise.resolve({ ok: false, detail: 'Redis at 127.0.0.1:6379/0 is not connected' }),
      ),
    ]);
    lifecycle.tolerateUnhealthy('cache');
    lifecycle.phase = 'running';
    const degraded = await get(port, '/health/ready');
    expect(degraded.status).to.equal(200);
    expect(degraded.body).to.deep.include({ status: 'ok', checks: { db: 'ok', cache: 'degraded' } });
    expect(degraded.body.details).to.deep.include({
      cache: { adapter: 'redis', detail: 'Redis at 127.0.0.1:6379/0 is not connected' },
    });
    dbOk = false;
    const down = await get(port, '/health/ready');
    expect(down.status).to.equal(503);
    expect(down.body).to.deep.include({ status: 'error', checks: { db: 'error', cache: 'degraded' } });
  });

  it('refuses to tolerate a name that is not an interface', () => {
    expect(() => lifecycle.tolerateUnhealthy('cash' as 'cache')).to.throw(/not an interface name/);
  });

  it('answers 503 naming the failing check, with its redacted detail, and bounds a check that never answers', async () => {
    registerSecret('health-detail-secret');
    const port = await listen(
      [
        target('db', 'postgres', () =>
          Promise.resolve({
            ok: false,
            detail: 'connect postgres://app:pw-in-detail@db failed (health-detail-secret)',
          }),
        ),
        target('mq', 'kafka', () => new Promise<HealthCheckResult>(() => {})),
      ],
      100,
    );
    lifecycle.addReadinessCheck('window', () => {
      throw new Error('window state unknown');
    });
    lifecycle.phase = 'running';
    const { status, body } = await get(port, '/health/ready');
    expect(status).to.equal(503);
    expect(body['status']).to.equal('error');
    expect(body['checks']).to.deep.equal({ db: 'error', mq: 'error', window: 'error' });
    expect(body['details']).to.deep.equal({
      db: { adapter: 'postgres', detail: 'connect postgres://app:[REDACTED]@db failed ([REDACTED])' },
      mq: { adapter: 'kafka', detail: 'no answer within 100 ms' },
      window: { detail: 'check threw: window state unknown' },
    });
  });

  it('coalesces concurrent probes into one check run', async () => {
    let calls = 0;
    const port = await listen([
      target('db', 'postgres', async () => {
        calls += 1;
        await sleep(300);
        return { ok: true };
      }),
    ]);
    lifecycle.phase = 'running';
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(port, '/health/ready')));
    expect(answers.map((answer) => answer.status)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(calls).to.equal(1);
    await get(port, '/health/ready');
    expect(calls).to.equal(2);
  });

  it('is not ready before run() starts nor once shutdown begins', async () => {
    const port = await listen([target('db', 'postgres', () => Promise.resolve({ ok: true }))]);
    expect((await get(port, '/health/ready')).body['status']).to.equal('starting');
    lifecycle.phase = 'running';
    expect((await get(port, '/health/ready')).status).to.equal(200);
    lifecycle.beginShutdown();
    const after = await get(port, '/health/ready');
    expect([after.status, after.body['status']]).to.deep.equal([503, 'shutting_down']);
  });

  it('answers /health/live 503 naming a heartbeat that stopped beating, and 200 again once it beats', async () => {
    const port = await listen([]);
    const heartbeat = lifecycle.heartbeat('consumer-loop', { timeoutMs: 50 });
    lifecycle.heartbeat('stopped-loop', { timeoutMs: 50 }).stop();
    expect((await get(port, '/health/live')).status).to.equal(200);
    await sleep(120);
    expect(await get(port, '/health/live')).to.deep.equal({
      status: 503,
      body: { status: 'error', stale: ['consumer-loop'] },
    });
    heartbeat.beat();
    expect((await get(port, '/health/live')).status).to.equal(200);
  });

  it('refuses a module readiness check that would hide an adapter check or repeat a name', () => {
    lifecycle.addReadinessCheck('consumer', () => ({ ok: true }));
    for (const name of ['db', 'cache', 'consumer']) {
      expect(() => lifecycle.addReadinessCheck(name, () => ({ ok: true })), name)
        .to.throw()
        .with.property('code', 'PH_ERR_MODULE_FAILED');
    }
  });
});

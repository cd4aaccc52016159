import { expect } from 'chai';
import { notConnectedHealth, raceHealthProbe } from './health-check.js';

describe('health-check race', function () {
  const options = {
    timeoutMs: 50,
    timeoutDetail: 'no answer in 50 ms',
    failureDetail: (error: unknown) => `failed: ${String(error)}`,
  };

  it('is ok when the probe answers in time', async function () {
    expect(await raceHealthProbe(Promise.resolve(1), options)).to.deep.equal({ ok: true });
  });

  it('reports a failed probe with the detail made from its error, without rejecting', async function () {
    expect(await raceHealthProbe(Promise.reject(new Error('boom')), options)).to.deep.equal({
      ok: false,
      detail: 'failed: Error: boom',
    });
  });

  it('reports a probe that does not answer in time, calling onTimeout once', async function () {
    let timeouts = 0;
    const started = performance.now();
    const result = await raceHealthProbe(new Promise(() => undefined), {
      ...options,
      onTimeout: () => (timeouts += 1),
    });
    expect(result).to.deep.equal({ ok: false, detail: 'no answer in 50 ms' });
    expect(timeouts).to.equal(1);
    expect(performance.now() - started).to.be.lessThan(1_000);
  });

  it('does not call onTimeout when the probe answered first', async function () {
    let timeouts = 0;
    await raceHealthProbe(Promise.resolve(), { ...options, timeoutMs: 10, onTimeout: () => (timeouts += 1) });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(timeouts).to.equal(0);
  });

  it('reports not connected as a fresh result each time', function () {
    const first = notConnectedHealth();
    expect(first).to.deep.equal({ ok: false, detail: 'not connected (connect() has not run, or disconnect() has)' });
    expect(notConnectedHealth()).to.not.equal(first);
  });
});

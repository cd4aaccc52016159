import { expect } from 'chai';
import { RecordingLogger, usePrivateRedis, waitFor } from '@platform-host/test-kit';
import { RedisCache } from './index.js';

/**
 * Stops the cache's Redis server under it and starts it again (a server of the suite's own, never
 * the shared one): commands fail promptly while it is gone instead of queueing for the whole
 * outage, the health check says so, and the same cache instance works again after the restart.
 */
describe('RedisCache when its server is stopped and restarted', function () {
  this.timeout(60_000);
  const server = usePrivateRedis({ persistent: true });

  it('fails commands and its health check while the server is down, warns once, and serves again after the restart', async function () {
    const logger = new RecordingLogger();
    const cache = new RedisCache({ url: server().url(0), keyPrefix: 'restart:', logger, healthCheckTimeoutMs: 500 });
    await cache.connect();
    try {
      await cache.set('greeting', 'hello', 60);

      await server().stop();
      await waitFor(async () => !(await cache.healthCheck()).ok, 10_000, 'the health check to fail');
      const failure = await cache.get('greeting').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure, 'a GET while the server is down').to.be.instanceOf(Error);

      await server().start();
      await waitFor(async () => (await cache.healthCheck()).ok, 15_000, 'the health check to pass again');
      expect(await cache.get('greeting')).to.equal('hello');
      await cache.set('after', 'restart', 60);
      expect(await cache.get('after')).to.equal('restart');

      expect(logger.at('warn').filter((record) => /Lost the connection/.test(record.message))).to.have.length(1);
      expect(logger.at('info').some((record) => /Reconnected/.test(record.message))).to.equal(true);
    } finally {
      await cache.disconnect();
    }
  });
});

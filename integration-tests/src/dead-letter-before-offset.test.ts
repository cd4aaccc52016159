import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Database, MessageQueue, QueueMessage } from '@platform-host/contracts';
import { MetricAggregator, readSettings, type MetricAggregatorContext } from '@platform-host/module-metric-aggregator';
import { startModuleForTest, useRealService, waitFor, type StartedModule } from '@platform-host/test-kit';
import { REPO_ROOT, cliEnv } from './support/cli.js';
import { KafkaTopicFixture } from './support/kafka-topic.js';
import { appliedEvents, e2eModuleArgs } from './support/metric-aggregator.js';
import { freshDatabase, psql } from './support/psql.js';
import { IngestProcess, MinioLake } from './support/stream-ingest.js';

/** A proxy of `target` whose `overrides` replace some of its methods (the others bound to it). */
function overriding<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
    },
  });
}

function offsetsOf(messages: QueueMessage | readonly QueueMessage[]): string {
  const list: readonly QueueMessage[] = Array.isArray(messages) ? messages : [messages as QueueMessage];
  return list.map((message) => message.offset).join(',');
}

/**
 * DESIGN.md decision 15 on a partitioned queue: an offset recorded or committed says "handled up to
 * here", so the dead letter of every invalid message below it must be durable first. Both modules,
 * on the native Kafka, the dead letters counted with kcat.
 */
describe('dead letters are durable before an offset covers them (real Kafka, PostgreSQL, MinIO)', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const kafka = useRealService('kafka');
  const objectStore = useRealService('object-store');

  it('metric_aggregator: the flush of a revocation (close) waits for a dead letter in flight and retries a failed one; the next owner finds both on the dead-letter topic', async () => {
    const database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_metric_dl');
    const topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '', 1);
    const modules: StartedModule[] = [];
    const workers: MetricAggregator[] = [];
    const source = `it-${randomBytes(3).toString('hex')}`;
    // An hour between timer flushes: only the revocation of close() writes.
    const args = e2eModuleArgs(topic.topic, '1h', '100');
    const startModule = async (): Promise<MetricAggregatorContext> => {
      const module = await startModuleForTest({
        moduleDir: join(REPO_ROOT, 'plugins', 'metric-aggregator'),
        args,
        flags: { db: 'postgres', mq: 'kafka' },
        env: { PLATFORM_AUTO_MIGRATE: 'true', DB_POSTGRES_URL: database.url, ...topic.environment() },
      });
      modules.push(module);
      return module.ctx;
    };
    try {
      await topic.create();
      // Offsets 0 and 1 are invalid, 2 is valid; one produce request, so one batch.
      await topic.publishTo(0, [
        '{"event_type": "cut off',
        JSON.stringify({ source, payload: {} }),
        JSON.stringify({
          event_id: 'e-valid',
          event_type: 'purchase',
          source,
          timestamp: new Date(Date.now() - 60_000).toISOString(),
          payload: { value: 3 },
        }),
      ]);
      const effects: string[] = [];
      let stopping: Promise<void> | undefined;
      let refused = false;
      const ctx = await startModule();
      // The first publish of offset 0's dead letter is refused (the worker is stopped at that
      // instant); offset 1's takes 1.5 s.
      const mq = overriding<MessageQueue>(ctx.mq, {
        deadLetter: async (message: QueueMessage, reason: string, error?: unknown) => {
          if (message.offset === '0' && !refused) {
            refused = true;
            effects.push('dead letter refused 0');
            setImmediate(() => {
              stopping = workers[0]?.stop();
            });
            throw new Error('injected: the broker did not take the dead letter');
          }
          if (message.offset === '1') await sleep(1500);
          await ctx.mq.deadLetter(message, reason, error);
          effects.push(`dead letter durable ${String(message.offset)}`);
        },
        ack: async (messages: QueueMessage | readonly QueueMessage[]) => {
          effects.push(`ack ${offsetsOf(messages)}`);
          await ctx.mq.ack(messages);
        },
      });
      const db = overriding<Database>(ctx.db, {
        transaction: async (work: Parameters<Database['transaction']>[0]) => {
          const result = await ctx.db.transaction(work);
          effects.push('flush committed');
          return result;
        },
      });
      const first = new MetricAggregator({ ...ctx, db, mq, settings: readSettings(ctx.config) });
      workers.push(first);
      await first.start();
      await waitFor(() => stopping !== undefined, 30_000, 'the refused dead letter');
      await stopping;
      const committed = effects.indexOf('flush committed');
      expect(committed, `a flush committed (${effects.join('; ')})`).to.be.above(-1);
      expect(effects.indexOf('dead letter durable 0'), effects.join('; ')).to.be.within(0, committed);
      expect(effects.indexOf('dead letter durable 1'), effects.join('; ')).to.be.within(0, committed);
      expect(psql(database.url, 'SELECT applied_offset FROM metric_aggregator_partition_offsets')).to.equal('2');

      // The next owner of the partition: whatever the high-water offset covers it skips.
      const next = await startModule();
      const second = new MetricAggregator({ ...next, settings: readSettings(next.config) });
      workers.push(second);
      await second.start();
      await topic.waitForZeroLag('metric_aggregator', 60_000);
      await second.stop();
      const letters = await topic.deadLetters();
      expect(letters.map((letter) => letter.originalId).sort(), 'dead letters read with kcat').to.deep.equal([
        '0:0',
        '0:1',
      ]);
      expect(letters.map((letter) => letter.reason).sort()).to.deep.equal(['invalid_event', 'malformed_json']);
      expect(appliedEvents(database.url, source)).to.equal(1);
    } finally {
      for (const worker of workers) await worker.stop().catch(() => undefined);
      for (const module of modules) await module.close().catch(() => undefined);
      await topic.cleanup();
      database.drop();
    }
  });

  it('stream_ingest: a commit by the flush timer waits for the dead letter of an earlier message; a kill -9 right after the commit loses none', async () => {
    const database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_ingest_dl');
    const topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '', 1);
    const lake = new MinioLake(objectStore());
    const marker = `race-${randomBytes(4).toString('hex')}`;
    let owner: IngestProcess | undefined;
    const env = {
      DB_POSTGRES_URL: database.url,
      ...topic.environment(),
      ...lake.adapterEnv(),
      PLATFORM_AUTO_MIGRATE: 'true',
    };
    const moduleArgs = ['--topic', topic.topic, '--batch-size', '100', '--flush-interval', '300ms'];
    let fixture: ChildProcess | undefined;
    let output = '';
    let signal: NodeJS.Signals | null | undefined;
    try {
      await topic.create();
      // Offset 0 is invalid (no event_id), offset 1 valid; one produce request, so one batch.
      await topic.publishTo(0, [
        JSON.stringify({ event_type: 'purchase', payload: { marker } }),
        JSON.stringify({
          event_id: `${marker}-valid`,
          event_type: 'purchase',
          source: 'it',
          timestamp: '2026-01-15T10:00:00Z',
          payload: { marker },
        }),
      ]);
      fixture = spawn(process.execPath, [join(REPO_ROOT, 'plugins/stream-ingest/dist/dead-letter-race.fixture.js')], {
        cwd: REPO_ROOT,
        env: cliEnv({
          ...env,
          FIXTURE_ARGS: moduleArgs.join(' '),
          FIXTURE_MARKER: marker,
          FIXTURE_DEAD_LETTER_DELAY_MS: '2000',
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      fixture.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      fixture.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      fixture.on('exit', (_code, sig) => (signal = sig));
      await waitFor(() => signal !== undefined, 60_000, 'the fixture to kill itself after its commit');
      expect(signal, 'killed right after the commit').to.equal('SIGKILL');
      expect(output, 'the invalid and the valid message in one batch').to.match(
        /race batch \d+ invalid=true valid=true/,
      );
      expect(
        output.indexOf('dead letter published'),
        'the dead letter was durable before the commit that covers it',
      ).to.be.within(0, output.indexOf('committed, killing myself'));
      expect(psql(database.url, 'SELECT count(*) FROM ingested_events')).to.equal('1');

      // Restarted: the committed offset decides what is skipped as already done.
      owner = new IngestProcess(
        [
          ...['--db', 'postgres', '--fs', 'minio', '--mq', 'kafka', '--env', 'test', '--log', 'json'],
          ...['--health-port', '0', ...moduleArgs],
        ],
        env,
      );
      await owner.consuming();
      await topic.waitForZeroLag('stream_ingest', 60_000);
      const letters = await topic.deadLetters();
      expect(
        letters.map((letter) => letter.originalId),
        'dead letters read with kcat',
      ).to.include('0:0');
      expect(letters.every((letter) => letter.reason === 'invalid_event')).to.equal(true);
      expect(psql(database.url, 'SELECT count(*) FROM ingested_events')).to.equal('1');
      expect(await owner.terminate()).to.equal(0);
    } catch (error) {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\nfixture output:\n${output.slice(-3000)}`,
        { cause: error },
      );
    } finally {
      if (fixture !== undefined && fixture.exitCode === null && fixture.signalCode === null) fixture.kill('SIGKILL');
      if (owner !== undefined && owner.child.exitCode === null) await owner.kill9();
      await topic.cleanup();
      lake.cleanup();
      database.drop();
    }
  });
});

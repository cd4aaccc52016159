import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Kafka from 'node-rdkafka';
import { waitFor } from '@platform-host/test-kit';
import type { DeadLetterSeen, PublishedEvent, QueueFixture } from './metric-aggregator.js';

/** Session timeout of the workers' consumers: the broker's minimum (group.min.session.timeout.ms). */
export const E2E_KAFKA_SESSION_TIMEOUT_MS = 6000;

/** A librdkafka error (a plain object with a message and a code) as an Error. */
function kafkaError(error: { readonly message: string; readonly code?: number }): Error {
  return new Error(`Kafka: ${error.message} (code ${String(error.code)})`);
}

/** Runs kcat with `args`, `input` on its stdin; resolves with its stdout, rejects naming the exit code and stderr. */
function kcat(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`kcat ${args.join(' ')} exited ${String(code)}: ${stderr}`)),
    );
    child.stdin.end(input ?? '');
  });
}

/**
 * A Kafka topic of one test on the shared broker, used with clients independent of the adapter:
 * kcat publishes (one message per line, no key, so librdkafka spreads them over the partitions) and
 * reads the dead letters; raw node-rdkafka creates and deletes the topics and reads the group's
 * committed offsets (a consumer that never subscribes, so it never joins the group).
 */
export class KafkaTopicFixture implements QueueFixture {
  readonly mq = 'kafka';
  readonly topic = `it-metric-${randomBytes(4).toString('hex')}`;
  readonly #admin: Kafka.IAdminClient;
  readonly #readers = new Map<string, Kafka.KafkaConsumer>();

  constructor(
    readonly bootstrapServers: string,
    readonly partitions = 6,
  ) {
    this.#admin = Kafka.AdminClient.create({ 'bootstrap.servers': bootstrapServers });
  }

  /** Creates the topic with {@link partitions} partitions (the broker's default is one). */
  async create(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.#admin.createTopic(
        { topic: this.topic, num_partitions: this.partitions, replication_factor: 1 },
        10_000,
        (error) => (error ? reject(kafkaError(error)) : resolve()),
      ),
    );
  }

  environment(): Record<string, string> {
    return {
      MQ_KAFKA_BOOTSTRAP_SERVERS: this.bootstrapServers,
      MQ_KAFKA_SESSION_TIMEOUT_MS: String(E2E_KAFKA_SESSION_TIMEOUT_MS),
      MQ_KAFKA_COMMIT_INTERVAL_MS: '200',
    };
  }

  /** `kcat -P`: one message per line (the values hold no newline), waits for every delivery. */
  async publish(events: readonly PublishedEvent[]): Promise<void> {
    await kcat(
      ['-P', '-b', this.bootstrapServers, '-t', this.topic, '-X', 'acks=all'],
      events.map((event) => event.value).join('\n') + '\n',
    );
  }

  /** `kcat -P -p <partition>`: `values` (one line each) into one partition, in order, in one produce request. */
  async publishTo(partition: number, values: readonly string[]): Promise<void> {
    await kcat(
      ['-P', '-b', this.bootstrapServers, '-t', this.topic, '-p', String(partition), '-X', 'acks=all'],
      values.join('\n') + '\n',
    );
  }

  /** The group's committed offset and the end offset of every partition. */
  async groupOffsets(group: string): Promise<Array<{ partition: number; committed: number; end: number }>> {
    const reader = await this.#reader(group);
    const toppars = Array.from({ length: this.partitions }, (_, partition) => ({ topic: this.topic, partition }));
    const committed = await new Promise<Kafka.TopicPartitionOffset[]>((resolve, reject) =>
      reader.committed(toppars, 5000, (error, offsets) => (error ? reject(kafkaError(error)) : resolve(offsets))),
    );
    return Promise.all(
      toppars.map(
        ({ partition }) =>
          new Promise<{ partition: number; committed: number; end: number }>((resolve, reject) => {
            reader.queryWatermarkOffsets(this.topic, partition, 5000, (error, offsets) => {
              if (error) {
                reject(kafkaError(error));
                return;
              }
              const mark = committed.find((entry) => entry.partition === partition)?.offset ?? -1;
              resolve({ partition, committed: mark < 0 ? 0 : mark, end: offsets.highOffset });
            });
          }),
      ),
    );
  }

  /** Zero lag: on every partition the group's committed offset reached the end offset. */
  async waitForZeroLag(group: string, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => (await this.groupOffsets(group)).every((entry) => entry.committed === entry.end),
      timeoutMs,
      `group ${group} committed up to the end of every partition of ${this.topic}`,
    );
  }

  /** `kcat -C` of `<topic>.dead-letter` from the beginning to its end: the `reason` and `original-id` headers. */
  async deadLetters(): Promise<DeadLetterSeen[]> {
    const out = await kcat([
      '-C',
      '-b',
      this.bootstrapServers,
      '-t',
      `${this.topic}.dead-letter`,
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%h\\n',
    ]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((headers) => ({
        reason: /(?:^|,)reason=([a-z_]+)/.exec(headers)?.[1] ?? '',
        originalId: /(?:^|,)original-id=(\d+:\d+)/.exec(headers)?.[1] ?? '',
      }));
  }

  async cleanup(): Promise<void> {
    for (const reader of this.#readers.values()) reader.disconnect();
    await Promise.all(
      [this.topic, `${this.topic}.dead-letter`].map(
        (name) => new Promise<void>((resolve) => this.#admin.deleteTopic(name, 5000, () => resolve())),
      ),
    );
    this.#admin.disconnect();
  }

  async #reader(group: string): Promise<Kafka.KafkaConsumer> {
    const known = this.#readers.get(group);
    if (known !== undefined) return known;
    const reader = new Kafka.KafkaConsumer(
      { 'bootstrap.servers': this.bootstrapServers, 'group.id': group, 'enable.auto.commit': false },
      {},
    );
    await new Promise<void>((resolve, reject) =>
      reader.connect({ timeout: 10_000 }, (error) => (error ? reject(kafkaError(error)) : resolve())),
    );
    this.#readers.set(group, reader);
    return reader;
  }
}

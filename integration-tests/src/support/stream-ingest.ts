import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';
import { ModuleProcess } from './module-process.js';

/** One event as the tests publish it. */
export interface PublishedEvent {
  readonly key: string;
  readonly value: string;
  readonly eventId: string | undefined;
}

/**
 * `count` events dated `day`, ids unique to `tag`; every `invalidEvery`th one (0: none) is invalid
 * (malformed JSON or an event without event_id) and dead-lettered by the service.
 */
export function generateIngestEvents(
  count: number,
  tag: string,
  invalidEvery = 25,
  day = '2026-01-15',
): PublishedEvent[] {
  return Array.from({ length: count }, (_, i) => {
    if (invalidEvery > 0 && i % invalidEvery === invalidEvery - 1)
      return {
        key: `k${i % 7}`,
        value: i % (2 * invalidEvery) === 2 * invalidEvery - 1 ? '{"broken' : '{"event_type":"x"}',
        eventId: undefined,
      };
    const eventId = `${tag}-${i}`;
    const event = {
      event_id: eventId,
      event_type: ['page_view', 'click', 'purchase'][i % 3],
      source: 'web',
      timestamp: `${day}T${String(i % 24).padStart(2, '0')}:00:00.000Z`,
      payload: { user_id: `u${i % 11}`, n: i, note: 'comma, "quote"' },
    };
    return { key: `k${i % 7}`, value: JSON.stringify(event), eventId };
  });
}

/**
 * A Kafka topic for one test: created and deleted with raw node-rdkafka's AdminClient in a child
 * process, and published to with kcat (independent of the project's Kafka adapter).
 */
export class KafkaTopicFixture {
  readonly topic = `ingest-${randomBytes(4).toString('hex')}`;
  constructor(
    readonly brokers: string,
    readonly partitions = 3,
  ) {}

  #admin(action: 'create' | 'delete', topics: readonly string[]): void {
    const script = `
      import Kafka from 'node-rdkafka';
      const admin = Kafka.AdminClient.create({ 'bootstrap.servers': ${JSON.stringify(this.brokers)} });
      const topics = ${JSON.stringify(topics)};
      for (const topic of topics) {
        await new Promise((resolve, reject) => {
          const done = (error) => (error && !/already exists|UNKNOWN_TOPIC/i.test(String(error)) ? reject(error) : resolve());
          if (${JSON.stringify(action)} === 'create') admin.createTopic({ topic, num_partitions: ${this.partitions}, replication_factor: 1 }, 10000, done);
          else admin.deleteTopic(topic, 10000, done);
        });
      }
      admin.disconnect();`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`kafka admin ${action} failed: ${result.stderr}`);
  }

  create(): void {
    this.#admin('create', [this.topic, `${this.topic}.dead-letter`]);
  }

  delete(): void {
    this.#admin('delete', [this.topic, `${this.topic}.dead-letter`]);
  }

  /** Publishes with kcat (keys decide the partition, librdkafka's default partitioner). */
  publish(events: readonly PublishedEvent[]): void {
    const input = events.map((event) => `${event.key}\t${event.value}`).join('\n') + '\n';
    const result = spawnSync('kcat', ['-P', '-b', this.brokers, '-t', this.topic, '-K', '\t', '-X', 'acks=all'], {
      input,
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`kcat failed (${result.status}): ${result.stderr}`);
  }

  /** Messages in the dead-letter topic, read with kcat. */
  deadLetters(): number {
    const result = spawnSync(
      'kcat',
      ['-C', '-b', this.brokers, '-t', `${this.topic}.dead-letter`, '-e', '-q', '-f', '%o\n'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    return result.stdout.split('\n').filter(Boolean).length;
  }
}

/** What the independent reader found in the lake. */
export interface LakeContents {
  /** Paths relative to the prefix (parquet ones followed by their pyarrow schema as JSON). */
  readonly files: string[];
  /** [file, partition, offset, event_id] per record. */
  readonly records: Array<[string, number, number, string]>;
}

/** The data lake of one test in MinIO, under a unique key prefix, read with pyarrow (lake_reader.py). */
export class MinioLake {
  readonly prefix = `it-ingest-${randomBytes(4).toString('hex')}`;
  constructor(readonly env: Readonly<Record<string, string | undefined>>) {}

  /** The adapter's environment for this lake. */
  adapterEnv(): Record<string, string> {
    return {
      FS_MINIO_ENDPOINT: this.env.FS_MINIO_ENDPOINT ?? '',
      FS_MINIO_ACCESS_KEY: this.env.FS_MINIO_ACCESS_KEY ?? '',
      FS_MINIO_SECRET_KEY: this.env.FS_MINIO_SECRET_KEY ?? '',
      FS_MINIO_BUCKET: this.env.FS_MINIO_BUCKET ?? '',
      FS_MINIO_PREFIX: `${this.prefix}/`,
    };
  }

  #run(action: 'read' | 'delete', under: string): string {
    const result = spawnSync(
      'python3',
      [
        join(REPO_ROOT, 'integration-tests', 'src', 'support', 'lake_reader.py'),
        action,
        this.env.FS_MINIO_ENDPOINT ?? '',
        this.env.FS_MINIO_ACCESS_KEY ?? '',
        '-',
        this.env.FS_MINIO_BUCKET ?? '',
        `${this.prefix}/${under}`,
      ],
      { encoding: 'utf8', env: { ...process.env, LAKE_READER_SECRET: this.env.FS_MINIO_SECRET_KEY ?? '' } },
    );
    if (result.status !== 0) throw new Error(`lake_reader.py ${action} failed: ${result.stderr}`);
    return result.stdout;
  }

  read(under: string): LakeContents {
    return JSON.parse(this.#run('read', under)) as LakeContents;
  }

  cleanup(): void {
    this.#run('delete', '');
  }
}

/** A `platform-host run stream_ingest` child process. */
export class IngestProcess extends ModuleProcess {
  constructor(args: readonly string[], env: Record<string, string>) {
    super('stream_ingest', args, env, { line: 'Stream ingest consuming', role: 'service' });
  }
}

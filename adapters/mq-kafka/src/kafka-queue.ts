import { hostname } from 'node:os';
import {
  MESSAGE_HEADERS,
  PlatformError,
  currentCorrelationId,
  deadLetterHeaders,
  deadLetterTopic,
} from '@platform-host/contracts';
import type * as RdkafkaModule from 'node-rdkafka';
import type {
  BatchHandler,
  HealthCheckResult,
  Logger,
  MessageQueue,
  NackOptions,
  OutgoingMessage,
  QueueCapabilities,
  QueueMessage,
  SubscribeOptions,
  Subscription,
} from '@platform-host/contracts';
import type {
  DeliveryReport,
  IAdminClient,
  KafkaConsumer,
  LibrdKafkaError,
  MessageHeader,
  Producer,
} from 'node-rdkafka';
import { describeLibrdkafkaConfigError } from './kafka-config.js';
import type { LibrdkafkaProperties, PropertyValue } from './kafka-config.js';
import { KafkaQueueMessage, KafkaSubscription, asError, errorText, messageId } from './kafka-subscription.js';
import type { RebalanceCallback, SubscriptionHost } from './kafka-subscription.js';
import { DeliveryCounts } from './partition-ledger.js';

/** node-rdkafka's exports (a CommonJS module: its default import). */
type Rdkafka = typeof RdkafkaModule.default;

/** Options of {@link KafkaQueue}. */
export interface KafkaQueueOptions {
  /** `host:port[,host:port...]`. */
  readonly bootstrapServers: string;
  /** `client.id` of every client (consumers append the group). Default `platform-host`. */
  readonly clientId?: string;
  /**
   * Connection and security properties every client gets (SASL, TLS, further librdkafka
   * properties). Never logged; errors name a property, never its value.
   */
  readonly properties?: LibrdkafkaProperties;
  /** `session.timeout.ms` of consumers: how long a crashed consumer keeps its partitions. Default 30000. */
  readonly sessionTimeoutMs?: number;
  /**
   * `heartbeat.interval.ms` of consumers, which is also how soon a consumer notices that the group
   * rebalances (someone joined or left). Default a third of the session timeout, at most 1000.
   */
  readonly heartbeatIntervalMs?: number;
  /** `auto.commit.interval.ms`: how often stored (acknowledged) positions are committed. Default 1000. */
  readonly commitIntervalMs?: number;
  /** `linger.ms` of the producer. Default 5. */
  readonly lingerMs?: number;
  /** Deadline of `connect()`, of a `createTopic` and of waits for a topic's metadata. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** Deadline of `healthCheck()`'s metadata request. Default 3000. */
  readonly healthCheckTimeoutMs?: number;
  /** First delay of the redelivery after a throwing handler, doubled per delivery up to 5 s. Default 50. */
  readonly retryBackoffMs?: number;
  readonly logger?: Logger;
}

type State = 'new' | 'connecting' | 'connected' | 'closed';

/** The outstanding delivery reports of one `publishBatch`. */
class PendingBatch {
  readonly ids: string[];
  #left: number;
  #failure: { index: number; error: LibrdKafkaError } | undefined;
  readonly promise: Promise<string[]>;
  #resolve: (ids: string[]) => void = () => undefined;
  #reject: (error: unknown) => void = () => undefined;

  constructor(
    readonly topic: string,
    size: number,
    readonly server: string,
  ) {
    this.ids = new Array<string>(size);
    this.#left = size;
    this.promise = new Promise<string[]>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  reported(index: number, error: LibrdKafkaError | null | undefined, report: DeliveryReport): void {
    if (error) this.#failure ??= { index, error };
    else this.ids[index] = messageId(report.partition, report.offset);
    this.#left -= 1;
    if (this.#left === 0) this.#settle();
  }

  /** Counts the messages from `index` on as not produced (the producer refused them). */
  abandon(index: number, error: unknown): void {
    this.#failure ??= { index, error: error as LibrdKafkaError };
    this.#left -= this.ids.length - index;
    if (this.#left <= 0) this.#settle();
  }

  #settle(): void {
    const failure = this.#failure;
    if (failure === undefined) {
      this.#resolve(this.ids);
      return;
    }
    this.#reject(
      new PlatformError(
        'PH_ERR_INTERNAL',
        `Kafka at ${this.server} did not accept message ${failure.index} of ${this.ids.length} on topic "${this.topic}": ${errorText(failure.error)}`,
        { cause: failure.error, hint: 'Publishing is at least once: retrying the whole batch is safe.' },
      ),
    );
  }
}

/** Opaque of one produced message: its batch and index. */
interface ProduceTicket {
  readonly batch: PendingBatch;
  readonly index: number;
}

function isTicket(value: unknown): value is ProduceTicket {
  return typeof value === 'object' && value !== null && 'batch' in value && value.batch instanceof PendingBatch;
}

/** How often the producer is polled for delivery reports while some are outstanding. */
const REPORT_POLL_MS = 2;

const QUEUE_FULL = -184;
const TOPIC_ALREADY_EXISTS = 36;

let consumerSerial = 0;

/**
 * A {@link MessageQueue} on Apache Kafka through node-rdkafka (librdkafka).
 *
 * - **Producer**: one per queue, `enable.idempotence=true`, `acks=all`, `linger.ms` (default 5), a
 *   delivery report per message; `publishBatch` resolves with `<partition>:<offset>` ids once every
 *   report of the batch is in. The key picks the partition (librdkafka's consistent-random).
 * - **Consumers**: one KafkaConsumer per subscription (see {@link KafkaSubscription}), classic
 *   group protocol with `cooperative-sticky` assignment, `enable.auto.offset.store=false`:
 *   acknowledging stores the contiguous acknowledged prefix of a partition, which librdkafka
 *   commits every `commitIntervalMs`, on revocation (after `onRevoked`) and on close.
 * - **Redelivery** is in process: a nacked message (or what a throwing handler left) is delivered
 *   again after its delay, its partition waiting behind it. Kafka keeps no delivery count, so the
 *   queue counts deliveries per offset; after a crash the group restarts from the committed
 *   position with counts from 1.
 */
export class KafkaQueue implements MessageQueue {
  readonly capabilities: QueueCapabilities = {
    orderedByKey: true,
    partitioned: true,
    delayedRedelivery: true,
  };
  readonly #options: KafkaQueueOptions;
  readonly #server: string;
  readonly #logger: Logger | undefined;
  readonly #counts = new DeliveryCounts();
  readonly #subscriptions = new Set<KafkaSubscription>();
  /** Topics known to exist (created or seen in metadata), so dead-lettering creates each once. */
  readonly #knownTopics = new Set<string>();
  #rdkafka: Rdkafka | undefined;
  #producer: Producer | undefined;
  #admin: IAdminClient | undefined;
  #state: State = 'new';
  #outstandingReports = 0;
  #reportPoller: NodeJS.Timeout | undefined;
  /** Resolvers waiting for the producer queue to have room again. */
  #roomWaiters: Array<() => void> = [];

  constructor(options: KafkaQueueOptions) {
    this.#options = options;
    this.#server = options.bootstrapServers;
    this.#logger = options.logger;
  }

  /** The broker list this queue connects to (no credentials: they are never part of it). */
  get brokers(): string {
    return this.#server;
  }

  #connectTimeoutMs(): number {
    return this.#options.connectTimeoutMs ?? 10_000;
  }

  #common(): Record<string, PropertyValue> {
    return {
      ...this.#options.properties,
      'bootstrap.servers': this.#options.bootstrapServers,
      'client.id': this.#options.clientId ?? 'platform-host',
      'socket.keepalive.enable': true,
    };
  }

  #notConnected(action: string): PlatformError {
    return new PlatformError(
      'PH_ERR_NOT_CONNECTED',
      `KafkaQueue.${action}() was called before connect() or after disconnect()`,
      { hint: 'The host connects adapters before running a module; in tests, await mq.connect() first.' },
    );
  }

  #connectError(what: string, error: unknown): PlatformError {
    const configProblem = isConfigError(error);
    return new PlatformError(
      configProblem ? 'PH_ERR_CONFIG_INVALID' : 'PH_ERR_CONNECT',
      configProblem
        ? `Kafka ${what} for ${this.#server}: ${describeLibrdkafkaConfigError(error)}`
        : `Could not connect the Kafka ${what} to ${this.#server}: ${errorText(error)}`,
      {
        hint: configProblem
          ? 'Check MQ_KAFKA_LIBRDKAFKA_PROPERTIES and the MQ_KAFKA_* security settings.'
          : 'Check MQ_KAFKA_BOOTSTRAP_SERVERS, the security settings and that the brokers are running.',
        cause: error,
      },
    );
  }

  async #load(): Promise<Rdkafka> {
    if (this.#rdkafka !== undefined) return this.#rdkafka;
    try {
      // Imported when the adapter connects, so that listing plugins never loads the native addon.
      const loaded = await import('node-rdkafka');
      this.#rdkafka = loaded.default;
      return loaded.default;
    } catch (error) {
      throw new PlatformError('PH_ERR_PLUGIN_LOAD', `node-rdkafka could not be loaded: ${errorText(error)}`, {
        hint: 'Its native addon is built at install time: run `npm rebuild node-rdkafka` (needs g++, make, python3).',
        cause: error,
      });
    }
  }

  async connect(): Promise<void> {
    if (this.#state === 'connected' || this.#state === 'connecting') return;
    if (this.#state === 'closed') throw this.#notConnected('connect');
    this.#state = 'connecting';
    try {
      const rdkafka = await this.#load();
      let producer: Producer;
      try {
        producer = new rdkafka.Producer(
          {
            ...this.#common(),
            'enable.idempotence': true,
            'linger.ms': this.#options.lingerMs ?? 5,
            dr_cb: true,
          },
          // acks=all (-1): the leader answers once every in-sync replica has the message.
          { acks: -1 },
        );
      } catch (error) {
        throw this.#connectError('producer', error);
      }
      producer.on('delivery-report', (error, report) => this.#onDeliveryReport(error, report));
      producer.on('event.error', (error) =>
        this.#logger?.debug('Kafka producer error', { brokers: this.#server, error: errorText(error) }),
      );
      await this.#connectClient(producer, 'producer');
      this.#producer = producer;
      this.#state = 'connected';
    } catch (error) {
      this.#state = 'new';
      throw error;
    }
  }

  /** Connects a producer or consumer within the connect deadline. */
  async #connectClient(client: Producer | KafkaConsumer, what: string): Promise<void> {
    const timeout = this.#connectTimeoutMs();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no broker answered within ${timeout} ms`)), timeout + 1000);
        client.connect({ timeout }, (error) => (error ? reject(asError(error)) : resolve()));
      });
    } catch (error) {
      try {
        client.disconnect();
      } catch {
        // node-rdkafka refuses to disconnect (flush) a producer that never connected.
      }
      throw this.#connectError(what, error);
    } finally {
      clearTimeout(timer);
    }
  }

  async disconnect(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await Promise.allSettled([...this.#subscriptions].map((subscription) => subscription.close()));
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer !== undefined) {
      // flush() first: what was published is delivered before the producer goes.
      await new Promise<void>((resolve) =>
        producer.flush(this.#connectTimeoutMs(), (error) => {
          if (error)
            this.#logger?.warn('Kafka producer flush on disconnect failed', {
              brokers: this.#server,
              error: errorText(error),
            });
          resolve();
        }),
      ).catch(() => undefined);
      this.#stopReportPoller();
      await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    }
    this.#admin?.disconnect();
    this.#admin = undefined;
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const producer = this.#producer;
    if (producer === undefined || this.#state !== 'connected')
      return { ok: false, detail: 'not connected (connect() has not run, or disconnect() has)' };
    const timeout = this.#options.healthCheckTimeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, detail: `Kafka at ${this.#server} sent no metadata within ${timeout} ms` }),
        timeout + 500,
      );
      timer.unref();
    });
    const answered = new Promise<HealthCheckResult>((resolve) => {
      try {
        producer.getMetadata({ timeout, allTopics: false }, (error, metadata) => {
          if (error)
            resolve({ ok: false, detail: `Kafka at ${this.#server} metadata request failed: ${errorText(error)}` });
          else if (metadata.brokers.length === 0)
            resolve({ ok: false, detail: `Kafka at ${this.#server} lists no brokers` });
          else resolve({ ok: true });
        });
      } catch (error) {
        resolve({ ok: false, detail: `Kafka at ${this.#server} metadata request failed: ${errorText(error)}` });
      }
    });
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  #requireProducer(action: string): Producer {
    const producer = this.#producer;
    if (producer === undefined || this.#state !== 'connected') throw this.#notConnected(action);
    return producer;
  }

  #onDeliveryReport(error: LibrdKafkaError | null | undefined, report: DeliveryReport): void {
    this.#outstandingReports -= 1;
    if (this.#outstandingReports <= 0) this.#stopReportPoller();
    const ticket: unknown = report.opaque;
    if (isTicket(ticket)) ticket.batch.reported(ticket.index, error, report);
    const waiters = this.#roomWaiters;
    if (waiters.length > 0) {
      this.#roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #startReportPoller(producer: Producer): void {
    if (this.#reportPoller !== undefined) return;
    this.#reportPoller = setInterval(() => {
      try {
        producer.poll();
      } catch {
        // Disconnected: the reports of what it still held come from flush() on disconnect.
      }
    }, REPORT_POLL_MS);
  }

  #stopReportPoller(): void {
    clearInterval(this.#reportPoller);
    this.#reportPoller = undefined;
  }

  async publish(topic: string, message: OutgoingMessage): Promise<string> {
    const [id] = await this.publishBatch(topic, [message]);
    if (id === undefined) throw new PlatformError('PH_ERR_INTERNAL', 'Kafka returned no delivery report');
    return id;
  }

  async publishBatch(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const producer = this.#requireProducer('publishBatch');
    if (messages.length === 0) return [];
    const batch = new PendingBatch(topic, messages.length, this.#server);
    const correlationId = currentCorrelationId();
    this.#startReportPoller(producer);
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index];
      if (message === undefined) continue;
      const headers =
        correlationId === undefined || message.headers?.[MESSAGE_HEADERS.correlationId] !== undefined
          ? message.headers
          : { ...message.headers, [MESSAGE_HEADERS.correlationId]: correlationId };
      const ticket: ProduceTicket = { batch, index };
      for (;;) {
        try {
          this.#outstandingReports += 1;
          producer.produce(topic, null, toBuffer(message.value), message.key ?? null, null, ticket, toHeaders(headers));
          break;
        } catch (error) {
          this.#outstandingReports -= 1;
          if ((error as Partial<LibrdKafkaError>).code !== QUEUE_FULL || this.#state !== 'connected') {
            batch.abandon(index, error);
            return batch.promise;
          }
          // librdkafka's queue is full: wait for delivery reports to make room.
          await new Promise<void>((resolve) => {
            this.#roomWaiters.push(resolve);
            setTimeout(resolve, 50).unref();
          });
        }
      }
    }
    return batch.promise;
  }

  /** Resolves once librdkafka has delivery reports for everything published so far. */
  async flush(): Promise<void> {
    const producer = this.#requireProducer('flush');
    const timeout = this.#connectTimeoutMs();
    await new Promise<void>((resolve, reject) =>
      producer.flush(timeout, (error) =>
        error
          ? reject(
              new PlatformError('PH_ERR_INTERNAL', `Kafka at ${this.#server}: flush failed: ${errorText(error)}`, {
                cause: error,
              }),
            )
          : resolve(),
      ),
    );
  }

  async subscribe(topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription> {
    this.#requireProducer('subscribe');
    // A consumer does not create topics, and would notice one created later only at its next
    // metadata refresh (5 minutes): the topic is created here when it does not exist.
    if (!this.#knownTopics.has(topic)) await this.#createTopic(topic, -1);
    const subscription = new KafkaSubscription(this.#subscriptionHost(), { topic, handler, options });
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      await subscription.close().catch(() => undefined);
      throw error;
    }
    return subscription;
  }

  #subscriptionHost(): SubscriptionHost {
    const rdkafka = this.#rdkafka;
    if (rdkafka === undefined) throw this.#notConnected('subscribe');
    const sessionTimeoutMs = this.#options.sessionTimeoutMs ?? 30_000;
    return {
      logger: this.#logger,
      counts: this.#counts,
      retryBackoffMs: Math.max(0, this.#options.retryBackoffMs ?? 50),
      assignmentWaitMs: sessionTimeoutMs + this.#connectTimeoutMs(),
      createConsumer: (options, rebalance) => this.#createConsumer(rdkafka, options, rebalance, sessionTimeoutMs),
      connectConsumer: (consumer) => this.#connectClient(consumer, 'consumer'),
      publishDeadLetter: (message, topic, reason, error) => this.#publishDeadLetter(message, topic, reason, error),
      forget: (subscription) => this.#subscriptions.delete(subscription),
    };
  }

  #createConsumer(
    rdkafka: Rdkafka,
    options: SubscribeOptions,
    rebalance: RebalanceCallback,
    sessionTimeoutMs: number,
  ): KafkaConsumer {
    consumerSerial += 1;
    const common = this.#common();
    const consumerName = options.consumer ?? `${hostname()}-${process.pid}-${consumerSerial}`;
    try {
      const consumer = new rdkafka.KafkaConsumer(
        {
          ...common,
          'client.id': `${String(common['client.id'])}:${consumerName}`,
          'group.id': options.group,
          'partition.assignment.strategy': 'cooperative-sticky',
          'enable.auto.commit': true,
          'enable.auto.offset.store': false,
          'auto.commit.interval.ms': this.#options.commitIntervalMs ?? 1000,
          'session.timeout.ms': sessionTimeoutMs,
          'heartbeat.interval.ms':
            this.#options.heartbeatIntervalMs ?? Math.max(100, Math.min(1000, Math.floor(sessionTimeoutMs / 3))),
          'enable.partition.eof': true,
          rebalance_cb: rebalance,
        },
        // librdkafka resets a partition by this policy when it has no position to use: no committed
        // one, or one out of range (records deleted by retention, a truncated log). 'latest' there
        // would skip what the group has not consumed, so it is always 'earliest'; `startFrom:
        // 'latest'` is applied by the subscription, which starts a new group's partitions at their end.
        { 'auto.offset.reset': 'earliest' },
      );
      consumer.on('event.error', (error) =>
        this.#logger?.debug('Kafka consumer error', { brokers: this.#server, error: errorText(error) }),
      );
      return this.consumerCreated(consumer);
    } catch (error) {
      throw this.#connectError('consumer', error);
    }
  }

  /**
   * Called with each new consumer before a subscription uses it; returns the consumer to use. The
   * queue uses it as it is: a seam for tests that inject what librdkafka or the broker may do
   * (a start position other than the one assigned, a failing committed-offset lookup).
   * @internal
   */
  protected consumerCreated(consumer: KafkaConsumer): KafkaConsumer {
    return consumer;
  }

  async #publishDeadLetter(message: QueueMessage, topic: string, reason: string, error: unknown): Promise<void> {
    if (!this.#knownTopics.has(topic)) await this.#createTopic(topic, -1);
    const headers = deadLetterHeaders(message, reason, error);
    await this.publishBatch(topic, [
      { value: message.value, headers, ...(message.key === undefined ? {} : { key: message.key }) },
    ]);
  }

  async ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void> {
    if (this.#state !== 'connected') throw this.#notConnected('ack');
    const list: readonly QueueMessage[] = isMessage(messages) ? [messages] : messages;
    if (list.length === 0) return;
    const first = list[0] === undefined ? undefined : KafkaQueueMessage.subscriptionOf(list[0]);
    const ours: KafkaQueueMessage[] = [];
    // One pass: the usual call acknowledges what one subscription delivered.
    let oneSubscription = first !== undefined;
    for (const message of list) {
      const own = KafkaQueueMessage.ours(message);
      if (own === undefined) continue;
      ours.push(own);
      if (oneSubscription && own.subscription !== first) oneSubscription = false;
    }
    if (oneSubscription && first !== undefined) {
      first.acknowledge(ours);
      return;
    }
    const bySubscription = new Map<KafkaSubscription, KafkaQueueMessage[]>();
    for (const message of ours) {
      const owner = KafkaQueueMessage.subscriptionOf(message);
      if (owner === undefined) continue;
      const group = bySubscription.get(owner) ?? [];
      group.push(message);
      bySubscription.set(owner, group);
    }
    for (const [owner, group] of bySubscription) owner.acknowledge(group);
  }

  async nack(message: QueueMessage, options: NackOptions = {}): Promise<void> {
    if (this.#state !== 'connected') throw this.#notConnected('nack');
    const own = KafkaQueueMessage.ours(message);
    // A message no open subscription of this queue delivered is not held here: the group's
    // committed position already makes it come again.
    if (own !== undefined) await KafkaQueueMessage.subscriptionOf(own)?.nack(own, options.delayMs ?? 0);
  }

  async deadLetter(message: QueueMessage, reason: string, error?: unknown): Promise<void> {
    if (this.#state !== 'connected') throw this.#notConnected('deadLetter');
    const own = KafkaQueueMessage.ours(message);
    const owner = own === undefined ? undefined : KafkaQueueMessage.subscriptionOf(own);
    if (own !== undefined && owner !== undefined) return owner.deadLetter(own, reason, error);
    await this.#publishDeadLetter(message, deadLetterTopic(message.topic), reason, error);
  }

  async #adminClient(): Promise<IAdminClient> {
    if (this.#admin !== undefined) return this.#admin;
    const rdkafka = this.#rdkafka ?? (await this.#load());
    try {
      this.#admin = rdkafka.AdminClient.create(this.#common());
    } catch (error) {
      throw this.#connectError('admin client', error);
    }
    return this.#admin;
  }

  /**
   * Creates `name` with `partitions` partitions (default 1) and the brokers' default replication
   * factor through the admin client; an existing topic is left as it is. Resolves once the
   * producer's metadata shows the topic with its partitions, so a subscribe or publish right after
   * finds it.
   */
  async createTopic(name: string, options: { readonly partitions?: number } = {}): Promise<void> {
    this.#requireProducer('createTopic');
    const partitions = options.partitions ?? 1;
    if (!Number.isInteger(partitions) || partitions < 1)
      throw new PlatformError(
        'PH_ERR_ARGS_INVALID',
        `createTopic("${name}"): partitions must be a whole number of at least 1, got ${partitions}`,
      );
    await this.#createTopic(name, partitions);
  }

  /** Creates `name` unless it exists (`partitions` -1: the brokers' num.partitions) and waits for its metadata. */
  async #createTopic(name: string, partitions: number): Promise<void> {
    const producer = this.#requireProducer('createTopic');
    const admin = await this.#adminClient();
    const timeout = this.#connectTimeoutMs();
    await new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic: name, num_partitions: partitions, replication_factor: -1 }, timeout, (error) => {
        if (!error || error.code === TOPIC_ALREADY_EXISTS) resolve();
        else
          reject(
            new PlatformError(
              'PH_ERR_INTERNAL',
              `Kafka at ${this.#server} could not create topic "${name}": ${errorText(error)}`,
              { cause: error },
            ),
          );
      }),
    );
    await this.#awaitTopicMetadata(producer, name, timeout);
    this.#knownTopics.add(name);
  }

  async #awaitTopicMetadata(producer: Producer, name: string, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = await new Promise<boolean>((resolve) => {
        producer.getMetadata({ topic: name, timeout: 1000 }, (error, metadata) =>
          resolve(
            !error &&
              metadata.topics.some(
                (topic) =>
                  topic.name === name &&
                  topic.partitions.length > 0 &&
                  topic.partitions.every((partition) => partition.leader >= 0),
              ),
          ),
        );
      });
      if (found) return;
      if (Date.now() > deadline)
        throw new PlatformError(
          'PH_ERR_INTERNAL',
          `Kafka at ${this.#server}: topic "${name}" has no metadata after ${timeout} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function isMessage(value: QueueMessage | readonly QueueMessage[]): value is QueueMessage {
  return !Array.isArray(value);
}

function isConfigError(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /configuration property|Invalid value|No such configuration/i.test(text);
}

function toBuffer(value: Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function toHeaders(headers: Readonly<Record<string, string>> | undefined): MessageHeader[] | undefined {
  if (headers === undefined) return undefined;
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  return entries.map(([name, value]) => ({ [name]: value }));
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import { DEAD_LETTER_HEADERS, type MessageQueue, type QueueMessage } from '@platform-host/contracts';
import { deadLetterEnvelopeOf, deadLetterEnvelopeSchema } from '@platform-host/contracts/message-schemas';
import type { GeneratedMessage, JsonSchemaInput } from './schema-arbitraries.js';

/** What a module's consumer contract test reads from its own folder (see {@link consumerContractFiles}). */
export interface ConsumerContractFiles {
  /** The module folder (the one holding `module.json`). */
  readonly moduleDir: string;
  /** A JSON file of the module, by a path relative to its folder (`schemas/consumed-event.schema.json`). */
  readonly readJson: (path: string) => unknown;
  /** The platform event schema (`schemas/platform-event.schema.json` two folders above the module). */
  readonly platformEvent: JsonSchemaInput;
  /** The `dead_letter_reasons` the manifest documents for the first topic it consumes. */
  readonly documentedReasons: readonly string[];
}

/**
 * The files of the module whose compiled test is `testFileUrl` (pass `import.meta.url` of a test
 * in `<module>/src`, run from `<module>/dist`), for consumer contract tests (seed 10.4).
 */
export function consumerContractFiles(testFileUrl: string): ConsumerContractFiles {
  const moduleUrl = new URL('../', testFileUrl);
  const readJson = (path: string): unknown => JSON.parse(readFileSync(new URL(path, moduleUrl), 'utf8'));
  const manifest = readJson('module.json') as {
    messages?: { consumes?: Array<{ dead_letter_reasons?: string[] }> };
  };
  return {
    moduleDir: fileURLToPath(moduleUrl),
    readJson,
    platformEvent: readJson('../../schemas/platform-event.schema.json') as JsonSchemaInput,
    documentedReasons: manifest.messages?.consumes?.[0]?.dead_letter_reasons ?? [],
  };
}

/** The dead letters of a topic, as {@link collectDeadLetters} reads them. */
export interface CollectedDeadLetters {
  /** Every dead letter read so far (acknowledged), in the order they came. */
  readonly letters: QueueMessage[];
  close(): Promise<void>;
}

/** Subscribes to `<topic>.dead-letter` (group `contract-reader`) and keeps every message it reads. */
export async function collectDeadLetters(mq: MessageQueue, topic: string): Promise<CollectedDeadLetters> {
  const letters: QueueMessage[] = [];
  const subscription = await mq.subscribe(
    `${topic}.dead-letter`,
    async (batch) => {
      letters.push(...batch);
      await mq.ack(batch);
    },
    { group: 'contract-reader' },
  );
  return { letters, close: () => subscription.close() };
}

/**
 * Asserts that every dead letter has a valid envelope (the message schemas' dead-letter envelope),
 * names `topic` as its original topic, and gives one of the `documentedReasons`.
 */
export function expectDocumentedDeadLetters(
  letters: readonly QueueMessage[],
  topic: string,
  documentedReasons: readonly string[],
): void {
  for (const letter of letters) {
    const envelope = deadLetterEnvelopeSchema.safeParse(deadLetterEnvelopeOf(letter));
    expect(envelope.success, JSON.stringify(envelope.error?.issues)).to.equal(true);
    expect(letter.headers[DEAD_LETTER_HEADERS.originalTopic]).to.equal(topic);
    expect(documentedReasons).to.include(letter.headers[DEAD_LETTER_HEADERS.reason]);
  }
}

/** Options of {@link publishGeneratedBatches}. */
export interface PublishGeneratedOptions {
  /** How many batches (property runs) to publish. */
  readonly runs: number;
  /** Batches published first, before the generated ones. */
  readonly examples?: readonly (readonly GeneratedMessage[])[];
  /** Waits until the module handled `batch`; `published` counts every message so far, this batch included. */
  readonly settle: (batch: readonly GeneratedMessage[], published: number) => Promise<void>;
}

/**
 * Publishes batches of 1 to 8 generated messages to `topic`, one batch per property run (fast-check
 * shrinks a failing one), calling `settle` after each; returns how many messages were published.
 */
export async function publishGeneratedBatches(
  mq: MessageQueue,
  topic: string,
  messages: fc.Arbitrary<GeneratedMessage>,
  options: PublishGeneratedOptions,
): Promise<number> {
  let published = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(messages, { minLength: 1, maxLength: 8 }), async (batch) => {
      await mq.publishBatch(
        topic,
        batch.map((message) => ({ value: message.value })),
      );
      published += batch.length;
      await options.settle(batch, published);
    }),
    {
      numRuns: options.runs,
      ...(options.examples === undefined ? {} : { examples: options.examples.map((batch) => [[...batch]]) }),
    },
  );
  return published;
}

import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { ModuleManifest } from '@platform-host/contracts';
import { FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';
import { incompatibilities, loadMessageSchema, resolveTopic } from './messages.js';
import { validateManifest } from './validate-manifest.js';

const TOPIC_ARG = {
  name: 'topic',
  description: 'Topic read.',
  type: 'string',
  default: 'events',
};

function moduleWith(messages: unknown, args: unknown[] = [TOPIC_ARG]): unknown {
  return {
    name: 'talker',
    display_name: 'Talker',
    description: 'A module that declares its topics.',
    type: 'worker',
    version: '1.0.0',
    host_api: '^2.2.0',
    entry: './dist/index.js',
    dependencies: { interfaces: ['message_queue'], modules: [] },
    args,
    messages,
  };
}

describe('module.json messages', () => {
  it('accepts plain topics, {arg} references and <arg> templates with platform or module-local schemas', () => {
    const { problems, manifest } = validateManifest(
      'module',
      moduleWith({
        produces: [{ topic: '<topic>.dead-letter', schema: 'dead-letter' }],
        consumes: [
          { topic: { arg: 'topic' }, schema: 'platform-event', dead_letter_reasons: ['invalid_event'] },
          { topic: 'audit', schema: './schemas/audit.schema.json' },
        ],
      }),
    );
    expect(problems).to.deep.equal([]);
    expect(manifest && resolveTopic(manifest, '<topic>.dead-letter')).to.equal('events.dead-letter');
    expect(manifest && resolveTopic(manifest, { arg: 'topic' }, new Map([['topic', 'clicks']]))).to.equal('clicks');
  });

  it('refuses a topic naming an argument the module does not have, an unknown schema id and an unknown key', () => {
    const { problems } = validateManifest(
      'module',
      moduleWith({
        produces: [{ topic: '<stream>.dead-letter', schema: 'dead-letter' }],
        consumes: [{ topic: { arg: 'topic' }, schema: 'event', retries: 3 }],
      }),
    );
    expect(problems.join('\n'))
      .to.contain('messages.consumes[0].schema: must be a platform message schema (platform-event, dead-letter)')
      .and.contain('messages.consumes[0]: Unrecognized key: "retries"');
    const unknownArg = validateManifest(
      'module',
      moduleWith({ produces: [{ topic: '<stream>.dead-letter', schema: 'dead-letter' }], consumes: [] }),
    );
    expect(unknownArg.problems).to.deep.equal([
      'messages.produces[0].topic: the topic refers to "stream", which is not a string argument of the module',
    ]);
  });

  it('leaves a topic unresolved when its argument is required and not given', () => {
    const manifest = validateManifest(
      'module',
      moduleWith({ produces: [], consumes: [{ topic: { arg: 'topic' }, schema: 'platform-event' }] }, [
        { name: 'topic', description: 'Topic read.', type: 'string', required: true },
      ]),
    ).manifest as ModuleManifest;
    expect(resolveTopic(manifest, { arg: 'topic' })).to.equal(undefined);
  });
});

describe('message schema compatibility', () => {
  const event = loadMessageSchema('platform-event', '.').json;

  it('finds no incompatibility between the platform event and itself', () => {
    expect(incompatibilities(event, event)).to.deep.equal([]);
  });

  it('names a field the consumer requires and the producer leaves optional, a narrower type and a refused extra field', () => {
    const producer = {
      type: 'object',
      properties: { id: { type: 'string' }, n: { type: 'number' }, note: { type: 'string' } },
      required: ['n'],
      additionalProperties: false,
    };
    const consumer = {
      type: 'object',
      properties: { id: { type: 'string' }, n: { type: 'integer' } },
      required: ['id', 'n'],
      additionalProperties: false,
    };
    expect(incompatibilities(consumer, producer)).to.deep.equal([
      'id: required by the consumer, optional for the producer',
      'n: the producer may send number, the consumer takes only "integer"',
      'note: the producer may send it, the consumer refuses fields it does not list',
    ]);
    expect(incompatibilities(producer, consumer)).to.deep.equal([]);
  });

  it('compares patterns as languages: a narrower one written differently is compatible, a wider one is reported with a value', () => {
    const consumer = { type: 'string', pattern: '^[^\\u0000]*$' };
    expect(incompatibilities(consumer, { type: 'string', minLength: 1, pattern: '^[^\\u0000]+$' })).to.deep.equal([]);
    expect(incompatibilities(consumer, { type: 'string' })).to.deep.equal([
      'the consumer requires the pattern "^[^\\\\u0000]*$", which the producer does not promise (it may send "\\u0000")',
    ]);
    expect(
      incompatibilities({ type: 'string', pattern: '^(?!x)' }, { type: 'string', pattern: '^(?!x)y' }),
    ).to.deep.equal([
      'the consumer requires the pattern "^(?!x)", which the producer does not promise (the patterns cannot be compared: a lookaround or word-boundary assertion is not compared)',
    ]);
  });

  it('reports a consumer keyword it cannot check instead of assuming it holds', () => {
    expect(incompatibilities({ type: 'string', not: { const: '' } }, { type: 'string' })).to.deep.equal([
      'the consumer\'s "not" is not checked against the producer',
    ]);
  });
});

describe('message contracts of the events topic (the modules of this repository)', () => {
  const repository = (path: string): string => fileURLToPath(new URL(`../../../../${path}`, import.meta.url));
  const streamIngest = loadMessageSchema(
    './schemas/consumed-event.schema.json',
    repository('plugins/stream-ingest'),
  ).json;
  const gateway = loadMessageSchema('./schemas/published-event.schema.json', repository('plugins/api-gateway')).json;
  const platformEvent = loadMessageSchema('platform-event', '.').json;

  it('finds that stream_ingest and metric_aggregator accept everything api_gateway declares it publishes', () => {
    expect(incompatibilities(streamIngest, gateway)).to.deep.equal([]);
    expect(incompatibilities(platformEvent, gateway)).to.deep.equal([]);
  });

  it('still warns that stream_ingest refuses platform events of other producers: no event_id, or a year the lake cannot file', () => {
    const reasons = incompatibilities(streamIngest, platformEvent);
    expect(reasons).to.have.length(2);
    expect(reasons[0]).to.equal('event_id: required by the consumer, optional for the producer');
    expect(reasons[1])
      .to.match(
        /^timestamp: the consumer requires the pattern ".*", which the producer does not promise \(it may send "(\d{4})-/,
      )
      .and.contain('"0000-02-29T00:00:00Z"');
  });
});

describe('doctor and plugins inspect show the message contracts', function () {
  this.timeout(30_000);
  const project = new FixtureProject();
  after(() => project.remove());
  const entry = moduleEntry(['message_queue'], 'return 0;');
  project.module(
    'producer',
    {
      name: 'producer',
      host_api: '^2.2.0',
      dependencies: { interfaces: ['message_queue'], modules: [] },
      args: [TOPIC_ARG],
      messages: { produces: [{ topic: { arg: 'topic' }, schema: 'platform-event' }], consumes: [] },
    },
    entry,
  );
  project.module(
    'strict_consumer',
    {
      name: 'strict_consumer',
      host_api: '^2.2.0',
      dependencies: { interfaces: ['message_queue'], modules: [] },
      args: [TOPIC_ARG],
      messages: {
        produces: [{ topic: '<topic>.dead-letter', schema: 'dead-letter' }],
        consumes: [
          { topic: { arg: 'topic' }, schema: './consumed.schema.json', dead_letter_reasons: ['invalid_event'] },
        ],
      },
    },
    entry,
  );
  project.write('plugins/strict_consumer/consumed.schema.json', {
    type: 'object',
    properties: { event_id: { type: 'string' }, event_type: { type: 'string' } },
    required: ['event_id', 'event_type'],
  });

  it('doctor warns that a consumer requires a field the producer of its topic leaves optional, and still exits 0', async () => {
    const result = await runCli(['doctor', 'strict_consumer'], project.env());
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout)
      .to.contain('strict_consumer consumes events: ./consumed.schema.json')
      .and.contain('⚠ strict_consumer (./consumed.schema.json) reading events from producer (platform-event@1.0.0)')
      .and.contain('event_id: required by the consumer, optional for the producer')
      .and.contain('⚠ strict_consumer may refuse messages producer publishes to events');
  });

  it('doctor compares against the topic the arguments name: another topic has no producer to compare with', async () => {
    const result = await runCli(['doctor', 'strict_consumer', '--topic', 'other'], project.env());
    expect(result.stdout).to.contain('strict_consumer consumes other').and.not.contain('⚠');
  });

  it('plugins inspect lists the declared topics, schemas and dead-letter reasons', async () => {
    const result = await runCli(['plugins', 'inspect', 'strict_consumer'], project.env());
    expect(result.stdout)
      .to.contain('  messages:\n')
      .and.contain('    produces <topic>.dead-letter = events.dead-letter: dead-letter\n')
      .and.contain('    consumes {arg: topic} = events: ./consumed.schema.json; dead letters: invalid_event\n');
  });
});

import { expect } from 'chai';
import { cliEnv, platformHost } from './support/cli.js';

/**
 * The `--mq kafka` adapter as a user meets it through the CLI: listed by `plugins list`, its
 * config keys named by `doctor` (values never), a missing required key found before anything runs.
 * Nothing here connects to a broker.
 */
describe('platform-host with the mq-kafka adapter', function () {
  this.timeout(60_000);
  const secrets = {
    MQ_KAFKA_SASL_PASSWORD: 'hunter2-kafka-secret',
    MQ_KAFKA_LIBRDKAFKA_PROPERTIES: 'ssl.key.password=other-secret',
  };

  it('lists mq-kafka as the message_queue adapter of --mq kafka', async function () {
    const listed = await platformHost(['plugins', 'list'], cliEnv({}));
    expect(listed.code, listed.stderr).to.equal(0);
    const row = listed.stdout.split('\n').find((line) => /\bmq-kafka\b/.test(line));
    expect(row, listed.stdout).to.match(/^adapter\s+mq-kafka\s+1\.0\.0\s+message_queue: --mq kafka\s+.*\bok$/);
  });

  it('doctor --mq kafka names every config key, never a value, and exits 0 when the required one is set', async function () {
    const doctor = await platformHost(
      ['doctor', '--mq', 'kafka'],
      cliEnv({ MQ_KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:59092', MQ_KAFKA_SASL_USERNAME: 'svc-user', ...secrets }),
    );
    expect(doctor.code, doctor.stdout + doctor.stderr).to.equal(0);
    expect(doctor.stdout).to.contain('--mq kafka -> mq-kafka 1.0.0');
    for (const key of [
      'MQ_KAFKA_BOOTSTRAP_SERVERS (mq-kafka, required): set',
      'MQ_KAFKA_CLIENT_ID (mq-kafka, optional): default "platform-host"',
      'MQ_KAFKA_SECURITY_PROTOCOL',
      'MQ_KAFKA_SASL_MECHANISM',
      'MQ_KAFKA_SASL_USERNAME (mq-kafka, optional): set',
      'MQ_KAFKA_SASL_PASSWORD (mq-kafka, optional, secret): set',
      'MQ_KAFKA_LIBRDKAFKA_PROPERTIES (mq-kafka, optional, secret): set',
      'MQ_KAFKA_SESSION_TIMEOUT_MS',
      'MQ_KAFKA_COMMIT_INTERVAL_MS',
      'MQ_KAFKA_LINGER_MS',
      'MQ_KAFKA_CONNECT_TIMEOUT_MS',
    ])
      expect(doctor.stdout).to.contain(key);
    for (const value of ['hunter2-kafka-secret', 'other-secret', 'svc-user', '127.0.0.1:59092'])
      expect(doctor.stdout + doctor.stderr, `doctor output shows ${value}`).to.not.contain(value);
  });

  it('doctor --mq kafka without MQ_KAFKA_BOOTSTRAP_SERVERS names the key and fails', async function () {
    const doctor = await platformHost(
      ['doctor', '--mq', 'kafka'],
      cliEnv({ MQ_KAFKA_BOOTSTRAP_SERVERS: '', ...secrets }),
    );
    expect(doctor.code, doctor.stdout).to.not.equal(0);
    expect(doctor.stdout).to.contain('MQ_KAFKA_BOOTSTRAP_SERVERS');
    expect(doctor.stdout + doctor.stderr).to.not.contain('hunter2-kafka-secret');
  });
});

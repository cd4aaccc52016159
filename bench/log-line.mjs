#!/usr/bin/env node
// One request log line (api_gateway's `Request completed`, issue 13's profile): the cost of
// `ctx.log.info(...)` through the host's redacting proxy, a `child({ module })` of the `--log json`
// logger, inside a correlation context, written to /dev/null with one synchronous write per chunk
// (what process.stdout does when it is a file). Measured in one process, rounds alternating, median
// of the rounds, as CPU µs per line (process.cpuUsage) and wall µs per line:
// - `log-winston --log json` of this checkout,
// - pino 10 behind the same redacting proxy (the reference: a fast JSON logger; same fields, its
//   own line layout; its default destination, sonic-boom writing synchronously),
// - with --before DIR, the log-winston adapter and redacting proxy of another built checkout
//   (e.g. the main branch), for a before/after in the same process.
//
//   npm run build && node bench/log-line.mjs [--lines 100000] [--rounds 7] [--lines-per-turn 64] [--before DIR]
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { setImmediate } from 'node:timers';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { currentCorrelationId, withCorrelationId } from '@platform-host/contracts';
import { WinstonLogger } from '@platform-host/adapter-log-winston';
import { redactingLogger, registerSecret } from '@platform-host/runtime';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : process.argv[index + 1];
};
const lines = Number(option('lines', 100_000));
const rounds = Number(option('rounds', 7));
const beforeRoot = option('before', undefined);
/** Lines logged per event-loop turn (a busy server logs many per turn, a quiet one one). */
const perTurn = Number(option('lines-per-turn', 64));

// A few registered secrets, as in a run with a database URL and a cache password.
registerSecret('postgresql://platform:s3cret-db-pass@db.internal:5432/platform');
registerSecret('cache-password-0123456789');

const devNull = openSync('/dev/null', 'w');
/** Like process.stdout on a file: every write is one synchronous write(2). */
const syncDevNull = () =>
  new Writable({
    write(chunk, _encoding, done) {
      writeSync(devNull, chunk);
      done();
    },
  });

const loggers = {
  ours: redactingLogger(new WinstonLogger({ format: 'json', stream: syncDevNull() })).child({ module: 'api_gateway' }),
};

const pinoRoot = pino(
  {
    base: null,
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label.toUpperCase() }) },
    mixin: () => {
      const id = currentCorrelationId();
      return id === undefined ? {} : { correlation_id: id };
    },
  },
  pino.destination({ dest: '/dev/null', sync: true }),
);
/** pino as a platform Logger (fields under `context`, like ours), so the same proxy redacts it. */
const asLogger = (instance) => ({
  debug: (message, fields) => instance.debug(fields === undefined ? {} : { context: fields }, message),
  info: (message, fields) => instance.info(fields === undefined ? {} : { context: fields }, message),
  warn: (message, fields) => instance.warn(fields === undefined ? {} : { context: fields }, message),
  error: (message, fields) => instance.error(fields === undefined ? {} : { context: fields }, message),
  child: (bindings) => asLogger(instance.child(bindings)),
  flush: () => new Promise((resolve) => instance.flush(() => resolve())),
});
loggers.pino = redactingLogger(asLogger(pinoRoot)).child({ module: 'api_gateway' });

if (beforeRoot !== undefined) {
  const load = (path) => import(pathToFileURL(`${beforeRoot}/${path}`).href);
  const { WinstonLogger: BeforeLogger } = await load('adapters/log-winston/dist/index.js');
  const before = await load('host/runtime/dist/index.js');
  before.registerSecret('postgresql://platform:s3cret-db-pass@db.internal:5432/platform');
  before.registerSecret('cache-password-0123456789');
  loggers.before = before
    .redactingLogger(new BeforeLogger({ format: 'json', stream: syncDevNull() }))
    .child({ module: 'api_gateway' });
}

const routes = ['/v1/events', '/v1/events/:id', '/v1/rollups'];
/** Logs `lines` request lines as the gateway's onResponse hook does; CPU and wall µs per line. */
async function run(logger) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < lines; i += 1) {
    withCorrelationId(`req-${i & 1023}`, () =>
      logger.info('Request completed', {
        method: 'GET',
        route: routes[i % 3],
        status: 200,
        durationMs: Math.round((i % 700) + 13) / 100,
        cache: 'HIT',
      }),
    );
    // Let the event loop turn now and then, as a server does between requests.
    if (i % perTurn === perTurn - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  await logger.flush();
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / lines, wall: ((performance.now() - start) * 1000) / lines };
}

const names = Object.keys(loggers);
const results = Object.fromEntries(names.map((name) => [name, { cpu: [], wall: [] }]));
for (const name of names) await run(loggers[name]); // warm-up
for (let round = 0; round < rounds; round += 1) {
  for (let index = 0; index < names.length; index += 1) {
    const name = names[(index + round) % names.length];
    const { cpu, wall } = await run(loggers[name]);
    results[name].cpu.push(cpu);
    results[name].wall.push(wall);
  }
}
closeSync(devNull);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const labels = {
  ours: 'log-winston --log json (this checkout)',
  pino: 'pino 10, same redacting proxy',
  before: `log-winston of ${beforeRoot}`,
};
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.log(
  `one request log line, ${lines} lines per round, ${perTurn} per event-loop turn, median of ${rounds} rounds (CPU µs / wall µs per line)`,
);
for (const name of names)
  console.log(
    `  ${labels[name].padEnd(44)}: ${median(results[name].cpu).toFixed(2)} / ${median(results[name].wall).toFixed(2)}`,
  );
if (loggers.before !== undefined)
  console.log(
    `  CPU ratio before / this checkout                : ${(median(results.before.cpu) / median(results.ours.cpu)).toFixed(2)}`,
  );
console.log(
  `  CPU ratio pino / this checkout                  : ${(median(results.pino.cpu) / median(results.ours.cpu)).toFixed(2)}`,
);

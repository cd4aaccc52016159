#!/usr/bin/env node
// api_gateway benchmark (issue 13): cached GET /v1/events req/s through the real CLI
// (`platform-host run api_gateway --db postgres --cache redis`) against a bare node:http server that
// answers the same cached bytes, read from the same Redis key with ioredis on every request, at the
// same concurrency, in the same run. Peak load comes from this process (autocannon); the two servers
// are separate processes. Rounds alternate which server goes first; medians of each are printed with
// their ratio, then p50/p99 latency of each at a constant request rate of half its measured peak,
// uncached req/s (every request a cache miss: --cache-ttl 1ms, --stale-ttl 1ms, random ids), and
// the database queries caused by 100 concurrent misses of one key (table scans counted by PostgreSQL).
//
// Latency at half load is measured by a constant-rate generator in a child process of its own (this
// script with --constant-rate), not by autocannon's `overallRate`: autocannon gives each connection
// a quota per second, so every second starts with all connections sending back to back until the
// quota is spent (a saturating burst, then idle), and it corrects for coordinated omission with an
// expected interval of Math.ceil(1 / rate) = 1 ms, which adds synthetic samples to every answer
// slower than 1 ms. The generator here sends request i at start + i / rate over keep-alive
// connections and measures each latency from that intended send time (a request waiting for a free
// connection counts its wait), so a server that falls behind shows it.
//
//   npm run build && DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:55432/platform \
//     CACHE_REDIS_URL=redis://127.0.0.1:56379/0 node bench/api-gateway.mjs \
//     [--rounds 5] [--seconds 5] [--connections 50] [--events 10000] [--compare-root DIR]
//
// --cpu-prof DIR: the gateways write a V8 CPU profile there when they stop (for profiling, not
// timing; summarize with `node bench/cpu-profile-summary.mjs FILE`).
// --compare-root DIR adds the gateway of another built checkout (e.g. the main branch, for a
// before/after) to the rotation, same database, same cache entry; given more than once, each
// (e.g. the steps of a branch) is in the rotation. For each gateway the CPU time of
// its process (user + system, from /proc/PID/stat) per request of the peak rounds is printed too:
// on a loaded machine it says more about the cost of a request than req/s do; and the same at one
// constant rate for every server (--cpu-rate, default 2,000 req/s), where it is steadier still.
//
// --metrics NAME: the gateways' metrics adapter (default noop, as in the figures; `prometheus` adds
// what a production gateway records per request: prom-client's histogram, gauge and counters).
//
// It creates a database of its own (dropped at the end) and uses a cache key prefix of its own.
import { spawn, spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const stringOption = (name) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};
/** Every value of an option that may be given more than once. */
const stringOptions = (name) =>
  process.argv.flatMap((argument, index) => (argument === `--${name}` ? [process.argv[index + 1]] : []));

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
const cpuSecondsOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
};

// The constant-rate load generator (see the header): prints one JSON line with the latencies.
if (process.argv.includes('--constant-rate')) {
  await constantRate({
    url: process.env.BENCH_URL,
    rate: Number(process.env.BENCH_RATE),
    seconds: Number(process.env.BENCH_SECONDS),
    connections: Number(process.env.BENCH_CONNECTIONS),
  });
} else if (process.argv.includes('--reference-server')) {
  // The reference: node:http + ioredis, one GET of the cached entry per request, same headers.
  // BENCH_AUTO_PIPELINING=true: the same server with ioredis auto-pipelining (what the cache adapter
  // does with CACHE_REDIS_AUTO_PIPELINING=true; off by default), printed beside the plain reference.
  const redis = new Redis(process.env.CACHE_REDIS_URL, {
    enableAutoPipelining: process.env.BENCH_AUTO_PIPELINING === 'true',
  });
  const key = process.env.BENCH_CACHE_KEY;
  const server = createServer((request, response) => {
    redis.get(key).then(
      (value) => {
        const cut = value.indexOf('\n');
        response.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          etag: value.slice(0, cut),
          'x-cache': 'HIT',
        });
        response.end(value.slice(cut + 1));
      },
      () => {
        response.writeHead(500);
        response.end();
      },
    );
  });
  server.listen(Number(process.env.BENCH_PORT), '127.0.0.1');
  process.on('SIGTERM', () => {
    server.close();
    redis.disconnect();
  });
} else {
  await main();
}

/**
 * Sends GETs to `url` at `rate` per second for `seconds` (after one second of warm-up that is not
 * recorded) over at most `connections` keep-alive connections; prints p50/p99 in ms, the rate
 * achieved and the failures. Each latency runs from the request's intended send time. The client is
 * raw sockets with a minimal HTTP/1.1 response reader (status line and Content-Length), like
 * autocannon's, so that the generator itself keeps up at tens of thousands of requests a second.
 */
async function constantRate({ url, rate, seconds, connections }) {
  const target = new URL(url);
  const request = Buffer.from(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: keep-alive\r\n\r\n`,
  );
  const warmUpMs = 1000;
  const total = Math.round((rate * (seconds * 1000 + warmUpMs)) / 1000);
  const latencies = [];
  const waiting = []; // intended send times of requests with no free connection yet
  const idle = [];
  let failures = 0;
  let sent = 0;
  let settled = 0;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  const start = performance.now();
  const settle = (intended, ok) => {
    if (!ok) failures += 1;
    else if (intended - start >= warmUpMs) latencies.push(performance.now() - intended);
    if (++settled === total) finish();
  };
  const open = () =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(target.port), target.hostname, () => resolve(connection));
      socket.setNoDelay(true);
      const connection = { socket, intended: 0, buffer: Buffer.alloc(0) };
      socket.on('error', reject);
      socket.on('close', () => {
        if (settled < total) {
          console.error(`${url}: the server closed a connection during the run`);
          process.exit(1);
        }
      });
      socket.on('data', (chunk) => {
        connection.buffer = connection.buffer.length === 0 ? chunk : Buffer.concat([connection.buffer, chunk]);
        for (;;) {
          const headEnd = connection.buffer.indexOf('\r\n\r\n');
          if (headEnd === -1) return;
          const head = connection.buffer.subarray(0, headEnd).toString('latin1');
          let end;
          if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
            // The body is JSON: the last chunk's marker cannot occur inside it.
            const last = connection.buffer.indexOf('\r\n0\r\n\r\n', headEnd + 2);
            if (last === -1) return;
            end = last + 7;
          } else {
            end = headEnd + 4 + Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
            if (connection.buffer.length < end) return;
          }
          connection.buffer = connection.buffer.subarray(end);
          settle(connection.intended, head.startsWith('HTTP/1.1 200'));
          const next = waiting.shift();
          if (next === undefined) idle.push(connection);
          else dispatch(connection, next);
        }
      });
    });
  const dispatch = (connection, intended) => {
    connection.intended = intended;
    connection.socket.write(request);
  };
  idle.push(...(await Promise.all(Array.from({ length: connections }, open))));
  const begin = performance.now() - start;
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - start - begin) * rate) / 1000) + 1);
    while (sent < due) {
      const intended = start + begin + (sent * 1000) / rate;
      const connection = idle.pop();
      if (connection === undefined) waiting.push(intended);
      else dispatch(connection, intended);
      sent += 1;
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  await done;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99), recorded: latencies.length, failures }));
  process.exit(0);
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function psql(url, sql) {
  const result = spawnSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql: ${result.stderr}`);
  return result.stdout.trim();
}

async function waitUntilAnswering(url, child) {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited with ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} does not answer`);
}

async function stop(child) {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

async function main() {
  const rounds = option('rounds', 5);
  const seconds = option('seconds', 5);
  const connections = option('connections', 50);
  const eventCount = option('events', 10_000);
  const adminUrl = process.env.DB_POSTGRES_URL;
  const redisUrl = process.env.CACHE_REDIS_URL;
  if (!adminUrl || !redisUrl) {
    console.error('Set DB_POSTGRES_URL and CACHE_REDIS_URL (deploy/native/infra.sh up prints them).');
    process.exit(2);
  }
  // --root DIR: the checkout whose gateway is "ours" (default: this one), e.g. to swap it with --compare-root.
  const root =
    stringOption('root') === undefined ? fileURLToPath(new URL('..', import.meta.url)) : `${stringOption('root')}/`;
  const cli = `${root}host/runtime/bin/platform-host.js`;
  const suffix = randomUUID().slice(0, 8);
  const database = `bench_api_${suffix}`;
  psql(adminUrl, `CREATE DATABASE ${database}`);
  const parsed = new URL(adminUrl);
  parsed.pathname = `/${database}`;
  const databaseUrl = parsed.toString();
  const prefix = `bench-api-${suffix}:`;
  const redis = new Redis(redisUrl);
  const children = [];
  const gatewayEnv = (extra) => {
    const env = { ...process.env, DB_POSTGRES_URL: databaseUrl, CACHE_REDIS_URL: redisUrl, ...extra };
    for (const key of Object.keys(env)) if (key.startsWith('PLATFORM_') && !(key in extra)) delete env[key];
    return env;
  };
  const cpuProfDir = stringOption('cpu-prof');
  const startGateway = async (args, keyPrefix, otherRoot) => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        ...(cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]),
        otherRoot === undefined ? cli : `${otherRoot}/host/runtime/bin/platform-host.js`,
        'run',
        'api_gateway',
        '--db',
        'postgres',
        '--cache',
        'redis',
        '--mq',
        'memory',
        '--metrics',
        stringOption('metrics') ?? 'noop',
        '--log',
        'json',
        '--env',
        'test',
        '--health-port',
        '0',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        ...args,
      ],
      // The request log lines go to /dev/null: they are written (and cost their formatting) but not kept.
      {
        cwd: otherRoot ?? root,
        // With --metrics prometheus: /metrics on a free port of this machine only.
        env: gatewayEnv({
          CACHE_REDIS_KEY_PREFIX: keyPrefix,
          LOG_LEVEL: 'info',
          METRICS_PROMETHEUS_PORT: '0',
          METRICS_PROMETHEUS_HOST: '127.0.0.1',
        }),
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    children.push(child);
    await waitUntilAnswering(`http://127.0.0.1:${port}/openapi.json`, child);
    return { child, url: `http://127.0.0.1:${port}` };
  };
  try {
    const migrated = spawnSync(process.execPath, [cli, 'migrate', 'up', '--db', 'postgres', '--env', 'test'], {
      cwd: root,
      env: gatewayEnv({}),
      encoding: 'utf8',
    });
    if (migrated.status !== 0) throw new Error(`migrate up failed: ${migrated.stderr}${migrated.stdout}`);
    psql(
      databaseUrl,
      `INSERT INTO cleaned_events (event_type, payload, source, event_date, dedup_key)
       SELECT CASE WHEN n % 2 = 0 THEN 'click' ELSE 'view' END, jsonb_build_object('n', n, 'page', '/p/' || (n % 50)),
              CASE WHEN n % 3 = 0 THEN 'app' ELSE 'web' END, DATE '2026-01-15', lpad(n::text, 64, '0')
       FROM generate_series(1, ${eventCount}) AS n`,
    );
    psql(databaseUrl, 'ANALYZE cleaned_events');

    // Cached: one list page (20 events, about 2 kB) served from Redis.
    const path = '/v1/events?event_type=click&source=web&limit=20';
    const gateway = await startGateway(['--cache-ttl', '1h', '--stale-ttl', '1h'], prefix);
    const warm = await fetch(`${gateway.url}${path}`);
    const body = await warm.text();
    const keys = [];
    for (let cursor = '0'; ;) {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}api_gateway*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
      if (cursor === '0') break;
    }
    if (keys.length !== 1) throw new Error(`expected one cached entry, found ${keys.length}`);
    const startReference = async (autoPipelining) => {
      const port = await freePort();
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--reference-server'], {
        env: {
          ...process.env,
          BENCH_CACHE_KEY: keys[0],
          BENCH_PORT: String(port),
          BENCH_AUTO_PIPELINING: String(autoPipelining),
        },
        stdio: 'inherit',
      });
      children.push(child);
      const url = `http://127.0.0.1:${port}`;
      await waitUntilAnswering(`${url}${path}`, child);
      if ((await (await fetch(`${url}${path}`)).text()) !== body)
        throw new Error('the reference does not answer the same bytes');
      return { child, url };
    };
    const { child: referenceChild, url: referenceUrl } = await startReference(false);
    const { child: pipelinedChild, url: pipelinedUrl } = await startReference(true);
    const cached = await fetch(`${gateway.url}${path}`);
    if (cached.headers.get('x-cache') !== 'HIT' || (await cached.text()) !== body) throw new Error('not a cache hit');
    const compareRoots = stringOptions('compare-root');
    const others = [];
    for (const compareRoot of compareRoots) {
      const other = await startGateway(['--cache-ttl', '1h', '--stale-ttl', '1h'], prefix, compareRoot);
      const answer = await fetch(`${other.url}${path}`);
      if (answer.headers.get('x-cache') !== 'HIT' || (await answer.text()) !== body)
        throw new Error(`the --compare-root ${compareRoot} gateway does not answer the same cached bytes`);
      others.push({ ...other, root: compareRoot, name: others.length === 0 ? 'before' : `before${others.length + 1}` });
    }

    const load = async (url, extra = {}) => {
      const result = await autocannon({ url, connections, duration: seconds, ...extra });
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      return result;
    };
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const servers = { ours: gateway.url, reference: referenceUrl, pipelined: pipelinedUrl };
    const pids = { ours: gateway.child.pid, reference: referenceChild.pid, pipelined: pipelinedChild.pid };
    for (const other of others) {
      servers[other.name] = other.url;
      pids[other.name] = other.child.pid;
    }
    const names = Object.keys(servers);
    /** The servers in another order each round (a rotation), so none always goes first. */
    const orderOf = (round) => names.map((_, index) => names[(index + round) % names.length]);
    for (const name of names) await load(`${servers[name]}${path}`, { duration: 2 }); // warm-up
    const peaks = Object.fromEntries(names.map((name) => [name, []]));
    const cpuPerRequest = Object.fromEntries(names.map((name) => [name, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (const name of orderOf(round)) {
        const cpuBefore = cpuSecondsOf(pids[name]);
        const result = await load(`${servers[name]}${path}`);
        peaks[name].push(result.requests.average);
        cpuPerRequest[name].push(((cpuSecondsOf(pids[name]) - cpuBefore) * 1e6) / result.requests.total);
      }
    }
    const [ours, reference, pipelined] = names.map((name) => peaks[name]);
    // Latency at a constant rate of half of each one's own peak, from a generator process of its own.
    const atConstantRate = async (url, rate) => {
      const generator = spawn(process.execPath, [fileURLToPath(import.meta.url), '--constant-rate'], {
        env: {
          ...process.env,
          BENCH_URL: url,
          BENCH_RATE: String(rate),
          BENCH_SECONDS: String(seconds),
          BENCH_CONNECTIONS: String(connections),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      generator.stdout.on('data', (chunk) => (output += chunk));
      const code = await new Promise((resolve) => generator.once('exit', resolve));
      if (code !== 0) throw new Error(`the load generator exited with ${code}`);
      const result = JSON.parse(output.trim().split('\n').at(-1));
      if (result.failures > 0) throw new Error(`${url}: ${result.failures} failed requests at ${rate} req/s`);
      return result;
    };
    const halfRates = Object.fromEntries(names.map((name) => [name, Math.max(1, Math.round(median(peaks[name]) / 2))]));
    const halfLoad = Object.fromEntries(names.map((name) => [name, { p50: [], p99: [] }]));
    for (let round = 0; round < rounds; round += 1) {
      for (const name of orderOf(round)) {
        const result = await atConstantRate(`${servers[name]}${path}`, halfRates[name]);
        halfLoad[name].p50.push(result.p50);
        halfLoad[name].p99.push(result.p99);
      }
    }
    const half = Object.fromEntries(
      names.map((name) => [name, { p50: median(halfLoad[name].p50), p99: median(halfLoad[name].p99) }]),
    );
    // CPU per request at one constant rate for all (--cpu-rate, default 2,000 req/s): at peak, the
    // CPU per request also follows how many requests share an event-loop turn, which the machine's
    // load moves; at one rate every server does the same work per second.
    const cpuRate = option('cpu-rate', 2000);
    const cpuAtRate = Object.fromEntries(names.map((name) => [name, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (const name of orderOf(round)) {
        const cpuBefore = cpuSecondsOf(pids[name]);
        await atConstantRate(`${servers[name]}${path}`, cpuRate);
        const sent = Math.round(cpuRate * (seconds + 1)); // the generator's warm-up second included
        cpuAtRate[name].push(((cpuSecondsOf(pids[name]) - cpuBefore) * 1e6) / sent);
      }
    }
    for (const other of others) await stop(other.child);
    await stop(pipelinedChild);
    await stop(referenceChild);
    await stop(gateway.child);

    // Uncached: every request misses (1 ms TTL and stale window), random ids of one row each.
    const uncachedPrefix = `${prefix}uncached:`;
    const uncachedGateway = await startGateway(['--cache-ttl', '1ms', '--stale-ttl', '1ms'], uncachedPrefix);
    const uncached = [];
    for (let round = 0; round < rounds; round += 1) {
      const result = await load(`${uncachedGateway.url}/v1/events/1`, {
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              path: `/v1/events/${1 + Math.floor(Math.random() * eventCount)}`,
            }),
          },
        ],
      });
      uncached.push(result.requests.average);
    }
    await stop(uncachedGateway.child);

    // Single flight: 100 concurrent requests for one key not cached yet; scans of the table counted by
    // the server (published when the gateway's connections close).
    const flightGateway = await startGateway(['--cache-ttl', '1h'], `${prefix}flight:`);
    const scans = () =>
      Number(
        psql(
          databaseUrl,
          "SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'cleaned_events'",
        ),
      );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const scansBefore = scans();
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(`${flightGateway.url}/v1/events?source=app&limit=33`).then((r) => r.text()),
      ),
    );
    if (new Set(answers).size !== 1) throw new Error('the 100 answers differ');
    await stop(flightGateway.child);
    let flightQueries = 0;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      flightQueries = scans() - scansBefore;
      if (flightQueries > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const rate = (value) => `${Math.round(value).toLocaleString('en-US')} req/s`;
    const ms = (value) => `${value.toFixed(2)} ms`;
    console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    console.log(
      `api_gateway GET ${path} (${body.length} B), ${connections} connections, ${seconds} s per round, median of ${rounds} rounds, ${eventCount} events`,
    );
    console.log(`  cached, api_gateway (fastify, --cache redis)      : ${rate(median(ours))}`);
    console.log(`  cached, bare node:http + ioredis GET             : ${rate(median(reference))}`);
    console.log(
      `  ratio api_gateway / bare                         : ${(median(ours) / median(reference)).toFixed(3)} (goal >= 0.9)`,
    );
    console.log(
      `  bare, with ioredis auto-pipelining              : ${rate(median(pipelined))}, ratio api_gateway / it ${(median(ours) / median(pipelined)).toFixed(3)}`,
    );
    const cpuLine = (label, name) =>
      console.log(
        `  CPU of the server process per request, ${label.padEnd(22)}: ${median(cpuPerRequest[name]).toFixed(1)} µs at peak, ${median(cpuAtRate[name]).toFixed(1)} µs at ${rate(option('cpu-rate', 2000))}`,
      );
    cpuLine('api_gateway', 'ours');
    cpuLine('bare', 'reference');
    cpuLine('bare, auto-pipelining', 'pipelined');
    for (const other of others) {
      console.log(
        `  cached, api_gateway of --compare-root ${other.root}: ${rate(median(peaks[other.name]))}, ratio to bare ${(median(peaks[other.name]) / median(reference)).toFixed(3)}`,
      );
      cpuLine(`--compare-root ${other.name}`, other.name);
    }
    const latencyLine = (label, name) =>
      console.log(
        `  ${label} at ${rate(halfRates[name])} (half its peak), p50 / p99: ${ms(half[name].p50)} / ${ms(half[name].p99)}`,
      );
    latencyLine('api_gateway', 'ours');
    latencyLine('bare', 'reference');
    latencyLine('bare, auto-pipelining', 'pipelined');
    for (const other of others) latencyLine(`--compare-root ${other.name}`, other.name);
    console.log(`  uncached (every request a miss), api_gateway     : ${rate(median(uncached))}`);
    console.log(`  database queries for 100 concurrent misses       : ${flightQueries}`);
    console.log(`  goal at half load: p99 <= 5 ms`);
  } finally {
    await Promise.all(children.map((child) => stop(child)));
    for (let cursor = '0'; ;) {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (batch.length > 0) await redis.unlink(...batch);
      cursor = next;
      if (cursor === '0') break;
    }
    redis.disconnect();
    psql(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

#!/usr/bin/env node
// HEALTHCHECK of the platform-host image (no curl in node:24-slim; Node's fetch does the job).
//
// Jobs have no HTTP server: the host writes a status file (PLATFORM_HEALTH_FILE, see
// host/runtime/src/health/job-status-file.ts). When that file exists the container is healthy
// while the job is starting, running or has succeeded, and its process is still alive.
// Otherwise (services and workers) the container is healthy when GET /health/live on the health
// port answers 200. The port is --health-port of the running command line, else
// PLATFORM_HEALTH_PORT, else 8080, as the host resolves it.
//
// Exit 0: healthy; 1: unhealthy (Docker's HEALTHCHECK contract). One line says why.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DEFAULT_HEALTH_PORT = 8080;
const TIMEOUT_MS = 3000;
const HEALTHY_JOB_STATES = new Set(['starting', 'running', 'succeeded', 'shutting_down']);

function report(healthy, message) {
  process.stdout.write(`${healthy ? 'healthy' : 'unhealthy'}: ${message}\n`);
  process.exit(healthy ? 0 : 1);
}

/** The command line of the container's main process, when it is the platform-host CLI. */
function hostCommandLine() {
  try {
    const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
    return args.some((arg) => arg.endsWith('platform-host.js')) ? args : [];
  } catch {
    return [];
  }
}

function healthPort(args) {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    if (arg === '--health-port') return args[index + 1];
    if (arg.startsWith('--health-port=')) return arg.slice('--health-port='.length);
  }
  return process.env.PLATFORM_HEALTH_PORT || String(DEFAULT_HEALTH_PORT);
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return error.code === 'EPERM';
  }
}

function checkJobStatus(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return false;
    report(false, `cannot read the job status file ${path}: ${error.message}`);
  }
  let status;
  try {
    status = JSON.parse(text);
  } catch {
    report(false, `the job status file ${path} is not JSON`);
  }
  const module = typeof status.module === 'string' ? status.module : 'the job';
  if (!HEALTHY_JOB_STATES.has(status.status)) {
    report(
      false,
      `${module} is ${status.status ?? 'in an unknown state'}${status.exitCode === undefined ? '' : ` (exit code ${status.exitCode})`}`,
    );
  }
  if (status.status !== 'succeeded' && Number.isInteger(status.pid) && !processAlive(status.pid)) {
    report(false, `${module} is ${status.status} but its process ${status.pid} is gone`);
  }
  report(true, `${module} is ${status.status}`);
  return true;
}

async function checkLive(port) {
  const url = `http://127.0.0.1:${port}/health/live`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.status === 200) report(true, `${url} answered 200`);
    report(false, `${url} answered ${response.status}`);
  } catch (error) {
    const cause = error.cause?.code ?? error.name ?? 'error';
    report(false, `no job status file and ${url} did not answer (${cause})`);
  }
}

/** PLATFORM_HEALTH_FILE, else the newest `<tmp>/platform-host/<module>.health.json` (the host's default). */
function statusFilePath() {
  if (process.env.PLATFORM_HEALTH_FILE) return process.env.PLATFORM_HEALTH_FILE;
  const dir = join(tmpdir(), 'platform-host');
  try {
    const files = readdirSync(dir)
      .filter((name) => name.endsWith('.health.json'))
      .map((name) => ({ path: join(dir, name), mtime: statSync(join(dir, name)).mtimeMs }));
    return files.sort((a, b) => b.mtime - a.mtime)[0]?.path;
  } catch {
    return undefined;
  }
}

const statusFile = statusFilePath();
if (statusFile === undefined || !checkJobStatus(statusFile)) await checkLive(healthPort(hostCommandLine()));

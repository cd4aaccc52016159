import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from '@platform-host/test-kit';
import { CLI, REPO_ROOT, cliEnv } from './cli.js';

/** How a long-running module announces it is ready, and what the messages call it. */
export interface ModuleProcessReadiness {
  /** The log message it prints once it consumes (`Metric aggregator consuming`). */
  readonly line: string;
  /** What it is, in messages: `worker`, `service`. */
  readonly role: string;
}

/**
 * A `platform-host run <module>` child process from the repository root (environment through
 * {@link cliEnv}), its stdout and stderr collected in `output`.
 */
export class ModuleProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    module: string,
    args: readonly string[],
    env: Record<string, string>,
    private readonly readiness: ModuleProcessReadiness,
  ) {
    this.child = spawn(process.execPath, [CLI, 'run', module, ...args], {
      cwd: REPO_ROOT,
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Resolves once the module has subscribed; fails when it exited before. */
  async consuming(timeoutMs = 60_000): Promise<void> {
    const { line, role } = this.readiness;
    await waitFor(
      () => this.output.includes(line) || this.child.exitCode !== null,
      timeoutMs,
      `the ${role} to subscribe`,
    );
    if (this.child.exitCode !== null) throw new Error(`the ${role} exited early:\n${this.output}`);
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async terminate(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

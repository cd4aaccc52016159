import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { withCorrelationId } from '@platform-host/contracts';
import type { LogLevel, Logger } from '@platform-host/contracts';
import { redactingLogger, registerSecret } from '@platform-host/runtime';

/** A logger under test together with a way to read what it wrote. */
export interface CapturedLogger {
  readonly logger: Logger;
  /** Everything written so far (called after `logger.flush()`), one entry per line. */
  output(): Promise<string>;
}

/**
 * How the logger suite obtains loggers: `create(level)` returns a fresh logger whose threshold is
 * `level` (as `LOG_LEVEL` would set it), writing to a capture the suite can read.
 */
export interface LoggerConformanceSubject {
  create(level: LogLevel): Promise<CapturedLogger>;
  destroy?(captured: CapturedLogger): Promise<void>;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Declares the conformance suite of the Logger contract. The suite is format-agnostic: it needs
 * each entry's level, message, fields and correlation id on one line of output (the line that holds
 * the message), which holds for JSON lines and for pretty lines alike.
 */
export function describeLoggerConformance(adapterName: string, subject: LoggerConformanceSubject): void {
  describe(`Logger conformance: ${adapterName}`, function () {
    const created: CapturedLogger[] = [];

    async function createLogger(level: LogLevel): Promise<CapturedLogger> {
      const captured = await subject.create(level);
      created.push(captured);
      return captured;
    }

    afterEach(async function () {
      for (const captured of created.splice(0)) await subject.destroy?.(captured);
    });

    /** The lines of output holding `marker`, after a flush. */
    async function linesWith(captured: CapturedLogger, marker: string): Promise<string[]> {
      await captured.logger.flush();
      return (await captured.output()).split('\n').filter((line) => line.includes(marker));
    }

    async function singleLineWith(captured: CapturedLogger, marker: string): Promise<string> {
      const lines = await linesWith(captured, marker);
      expect(lines, `output lines holding "${marker}"`).to.have.lengthOf(1);
      return lines[0]!;
    }

    const token = (): string => randomUUID().slice(0, 8);

    it('writes an entry at every level with its message and level name', async function () {
      const captured = await createLogger('debug');
      const id = token();
      for (const level of LEVELS) captured.logger[level](`entry-${id}-${LEVELS.indexOf(level)}`);
      for (const level of LEVELS) {
        const line = await singleLineWith(captured, `entry-${id}-${LEVELS.indexOf(level)}`);
        expect(line).to.match(new RegExp(`\\b${level}(ing)?\\b`, 'i'));
      }
    });

    it("includes the caller's fields, nested ones too", async function () {
      const captured = await createLogger('info');
      const id = token();
      captured.logger.info(`fields-${id}`, { order_id: `ord-${id}`, attempts: 3, nested: { region: `region-${id}` } });
      const line = await singleLineWith(captured, `fields-${id}`);
      expect(line).to.include('order_id').and.include(`ord-${id}`).and.include(`region-${id}`);
      expect(line).to.match(/attempts\W+3\b/);
    });

    it('keeps unicode in messages and field values intact', async function () {
      const captured = await createLogger('info');
      const id = token();
      captured.logger.info(`überprüft 日本語 🎉 ${id}`, { city: 'Zürich ✓' });
      const line = await singleLineWith(captured, `überprüft 日本語 🎉 ${id}`);
      expect(line).to.include('Zürich ✓');
    });

    it('writes a large message in full', async function () {
      const captured = await createLogger('info');
      const id = token();
      const large = `large-${id}-${'x'.repeat(100_000)}-end`;
      captured.logger.info(large);
      expect(await singleLineWith(captured, `large-${id}`)).to.include(large);
    });

    it('attaches the correlation id inside withCorrelationId, across awaits, and not outside', async function () {
      const captured = await createLogger('info');
      const id = token();
      const correlationId = `cid-${randomUUID()}`;
      await withCorrelationId(correlationId, async () => {
        captured.logger.info(`inside-sync-${id}`);
        await new Promise((resolve) => setImmediate(resolve));
        captured.logger.child({ step: 'load' }).warn(`inside-after-await-${id}`);
      });
      captured.logger.info(`outside-${id}`);
      expect(await singleLineWith(captured, `inside-sync-${id}`)).to.include(correlationId);
      expect(await singleLineWith(captured, `inside-after-await-${id}`)).to.include(correlationId);
      expect(await singleLineWith(captured, `outside-${id}`)).not.to.include('cid-');
    });

    it('keeps the correlation ids of concurrent contexts apart', async function () {
      const captured = await createLogger('info');
      const id = token();
      const [first, second] = [`cid-a-${randomUUID()}`, `cid-b-${randomUUID()}`];
      const work = (correlationId: string, name: string) =>
        withCorrelationId(correlationId, async () => {
          for (let step = 0; step < 3; step += 1) {
            await new Promise((resolve) => setImmediate(resolve));
            captured.logger.info(`${name}-${id}-${step}`);
          }
        });
      await Promise.all([work(first, 'first'), work(second, 'second')]);
      for (let step = 0; step < 3; step += 1) {
        const firstLine = await singleLineWith(captured, `first-${id}-${step}`);
        const secondLine = await singleLineWith(captured, `second-${id}-${step}`);
        expect(firstLine).to.include(first).and.not.include(second);
        expect(secondLine).to.include(second).and.not.include(first);
      }
    });

    it('adds child bindings to the child entries only, and merges bindings of nested children', async function () {
      const captured = await createLogger('info');
      const id = token();
      const child = captured.logger.child({ job_id: `job-${id}` });
      child.info(`from-child-${id}`);
      captured.logger.info(`from-parent-${id}`);
      child.child({ step_name: `step-${id}` }).info(`from-grandchild-${id}`);
      expect(await singleLineWith(captured, `from-child-${id}`)).to.include(`job-${id}`);
      expect(await singleLineWith(captured, `from-parent-${id}`)).not.to.include(`job-${id}`);
      const grandchild = await singleLineWith(captured, `from-grandchild-${id}`);
      expect(grandchild).to.include(`job-${id}`).and.include(`step-${id}`);
    });

    it('names the module bound with child({ module })', async function () {
      const captured = await createLogger('info');
      const id = token();
      captured.logger.child({ module: `module-${id}` }).info(`from-module-${id}`);
      expect(await singleLineWith(captured, `from-module-${id}`)).to.include(`module-${id}`);
    });

    // Redaction is the host's: it wraps every logger in its redacting proxy. These cases prove the
    // adapter writes nothing around the proxy (no secret from an Error's own fields, stacks, causes).
    it('behind the host redacting proxy, never writes a registered secret value, wherever it appears', async function () {
      const captured = await createLogger('debug');
      const logger = redactingLogger(captured.logger);
      const id = token();
      const secret = `conformance-secret-${randomUUID()}`;
      registerSecret(secret);
      logger.info(`in-message-${id} ${secret}`);
      logger.info(`in-field-${id}`, { dsn: `postgres://app:${secret}@db/app` });
      logger.warn(`nested-${id}`, { outer: { inner: [secret] } });
      logger.child({ binding: secret }).error(`in-binding-${id}`);
      const error = Object.assign(new Error(`in-error-${id} ${secret}`, { cause: new Error(secret) }), {
        detail: secret,
      });
      logger.error(`in-error-${id}`, { error });
      for (const marker of ['in-message', 'in-field', 'nested', 'in-binding']) {
        expect(await linesWith(captured, `${marker}-${id}`), marker).to.have.lengthOf(1);
      }
      expect(await captured.output()).not.to.include(secret);
    });

    it('behind the host redacting proxy, hides the value of a field named password, also nested', async function () {
      const captured = await createLogger('info');
      const id = token();
      const password = `pw-value-${randomUUID()}`;
      redactingLogger(captured.logger).info(`login-${id}`, { user: 'ada', password, database: { password } });
      expect(await singleLineWith(captured, `login-${id}`))
        .to.include('ada')
        .and.not.include(password);
    });

    it('flush resolves with nothing logged, and once every entry so far is in the output', async function () {
      const captured = await createLogger('info');
      await captured.logger.flush();
      const id = token();
      const child = captured.logger.child({ part: 'child' });
      for (let index = 0; index < 500; index += 1)
        (index % 2 === 0 ? captured.logger : child).info(`bulk-${id}-${index}.`);
      await captured.logger.flush();
      const output = await captured.output();
      for (let index = 0; index < 500; index += 1) expect(output).to.include(`bulk-${id}-${index}.`);
    });

    it('writes every entry of concurrent tasks', async function () {
      const captured = await createLogger('info');
      const id = token();
      await Promise.all(
        Array.from({ length: 20 }, async (_, task) => {
          for (let step = 0; step < 5; step += 1) {
            await new Promise((resolve) => setImmediate(resolve));
            captured.logger.info(`task-${id}-${task}-${step}.`);
          }
        }),
      );
      await captured.logger.flush();
      const output = await captured.output();
      for (let task = 0; task < 20; task += 1) {
        for (let step = 0; step < 5; step += 1) expect(output).to.include(`task-${id}-${task}-${step}.`);
      }
    });

    for (const threshold of ['info', 'warn', 'error'] as const) {
      it(`drops entries below the ${threshold} level and keeps the others`, async function () {
        const captured = await createLogger(threshold);
        const id = token();
        for (const level of LEVELS) captured.logger.child({ scope: 'child' })[level](`threshold-${id}-${level}.`);
        for (const level of LEVELS) captured.logger[level](`threshold-${id}-${level}.`);
        const kept = LEVELS.slice(LEVELS.indexOf(threshold));
        for (const level of LEVELS) {
          const lines = await linesWith(captured, `threshold-${id}-${level}.`);
          expect(lines, level).to.have.lengthOf(kept.includes(level) ? 2 : 0);
        }
      });
    }
  });
}

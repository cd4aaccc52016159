import type { Result } from 'ioredis';

/**
 * The Lua script that dead-letters an entry: `XADD` of the dead letter to `KEYS[1]`, then `XACK` of
 * the original (`ARGV[2]`, group `ARGV[1]`) on `KEYS[2]`; `ARGV[3..]` are the dead letter's field /
 * value pairs. A script, not MULTI/EXEC: Redis runs every command of a transaction even when one
 * fails at run time (an XADD to a key that holds no stream answers WRONGTYPE and the XACK still
 * ran, so the entry was acknowledged with no dead letter written). An error of `redis.call` ends
 * the script, so the XACK runs only after the XADD succeeded, atomically.
 */
export const DEAD_LETTER_SCRIPT = `
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
`;

/** The name the script is registered under with `defineCommand`. */
export const DEAD_LETTER_COMMAND = 'platformDeadLetter';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Runs {@link DEAD_LETTER_SCRIPT}; resolves with the XACK count (1, or 0 when already acknowledged). */
    platformDeadLetter(
      deadLetterStream: string,
      stream: string,
      group: string,
      id: string,
      ...fields: Array<string | Buffer>
    ): Result<number, Context>;
  }
}

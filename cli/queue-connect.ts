import type { Redis } from 'ioredis';
import { checkReachable, connectRedis, parseRedisUrl, QueueUrlError, type RedisTarget } from '../experiments/queue/redis-url.js';
import { UsageError } from './args.js';

/** The --queue flag, the same in cgh queue run and cgh worker. */
export const QUEUE_FLAG = {
  name: 'queue', type: 'string', metavar: 'URL',
  help: 'Redis of the queue: redis://[USER:PASSWORD@]HOST[:PORT][/DB], rediss://... for TLS (default: $CGH_QUEUE)',
} as const;

/** The Redis URL of --queue, else of the CGH_QUEUE environment variable (which keeps a password out of ps). */
export function queueUrl(flag: string | undefined): string | undefined {
  return flag ?? (process.env.CGH_QUEUE || undefined);
}

export function parseTarget(url: string): RedisTarget {
  try {
    return parseRedisUrl(url);
  } catch (e) {
    if (e instanceof QueueUrlError && e.usage) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * Connects for the life of a command: one clear error if the server cannot be reached now, then a
 * connection that waits out restarts, saying so once per outage.
 */
export async function openQueue(target: RedisTarget, log: (line: string) => void): Promise<Redis> {
  await checkReachable(target);
  let lost = false;
  const lose = (why: string) => {
    if (!lost) log(`lost Redis at ${target.display} (${why}); reconnecting`);
    lost = true;
  };
  const conn = connectRedis(target, (e) => lose((e as NodeJS.ErrnoException).code ?? e.message));
  conn.on('reconnecting', () => lose('connection closed'));
  conn.on('ready', () => {
    if (lost) log(`reconnected to Redis at ${target.display}`);
    lost = false;
  });
  return conn;
}

import { Redis, type RedisOptions } from 'ioredis';

/** A queue URL that is malformed, or a Redis server that cannot be reached or refuses us. */
export class QueueUrlError extends Error {
  override name = 'QueueUrlError';
  constructor(message: string, readonly usage = false) {
    super(message);
  }
}

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL with any password replaced by ***, safe to print and to store. */
  display: string;
}

const FORM = 'redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://... for TLS';

/** Parses redis:// and rediss:// URLs; anything else is refused with the expected form. */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new QueueUrlError(`--queue is not a URL; give ${FORM}`, true);
  }
  // A password may sit in the user part or (wrongly) in a query: neither is ever shown.
  const shown = maskPassword(text.replace(/[?#].*$/, ''));
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new QueueUrlError(`--queue ${shown} is not a redis:// or rediss:// URL; give ${FORM}`, true);
  }
  if (!url.hostname) throw new QueueUrlError(`--queue ${shown} names no host; give ${FORM}`, true);
  if (url.search || url.hash) {
    throw new QueueUrlError(`--queue ${shown} has a ?query or #fragment, which cgh does not read (a password goes before the host); give ${FORM}`, true);
  }
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new QueueUrlError(`--queue ${shown}: the database "${dbText}" is not a number; give ${FORM}`, true);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: url.port ? Number(url.port) : 6379,
    db: dbText === '' ? 0 : Number(dbText),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:',
    display: shown,
  };
}

/** The URL with its password (if any) replaced by ***. */
export function maskPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

function options(t: RedisTarget): RedisOptions {
  return {
    host: t.host, port: t.port, db: t.db, username: t.username, password: t.password,
    tls: t.tls ? { servername: /^[\d.:]+$/.test(t.host) ? undefined : t.host } : undefined,
    connectionName: 'cgh',
  };
}

/**
 * A connection for BullMQ: reconnects for ever (a Redis restart is waited out, commands queue meanwhile),
 * as BullMQ's blocking connections require.
 */
export function connectRedis(t: RedisTarget, onError: (e: Error) => void = () => {}): Redis {
  const client = new Redis({
    ...options(t),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(250 * times, 2000),
  });
  client.on('error', onError);
  return client;
}

/** Connects once, without retries, so an unreachable or refusing server is one clear error at startup. */
export async function checkReachable(t: RedisTarget, timeoutMs = 5000): Promise<void> {
  let lastError: Error | undefined;
  const client = new Redis({
    ...options(t), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null,
  });
  client.on('error', (e: Error) => { lastError = e; });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const err = lastError ?? (e as Error);
    throw new QueueUrlError(`cannot reach Redis at ${t.display} (${describe(err)}); start redis-server there or check --queue`);
  } finally {
    client.disconnect();
  }
}

function describe(e: Error & { code?: string }): string {
  const msg = (e.message || String(e)).split('\n')[0];
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(msg)) return 'the password or user was refused';
  if (e.code) return e.code;
  return msg.replace(/^connect /, '');
}

// One process at a time per run or experiment folder: a lock file naming its holder, broken only when that holder is dead.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileWriteError, processIsAlive } from './durable-file.js';

export const LOCK_FILE = '.cgh-lock';

/** The folder is held by another live process; the message is one line naming the holder and the fix. */
export class FolderLockedError extends Error {
  override name = 'FolderLockedError';
}

export interface LockHolder { pid: number; host: string; started: string; token: string; owner?: string }

const held = new Map<string, LockHolder>();
let owner: string | undefined;

/**
 * Names what holds this process's locks from now on (a queue worker says so), so that another process can
 * tell a lock whose holder is known to be gone by other means (see breakLockOf) from any other.
 */
export function setLockOwner(name: string | undefined): void {
  owner = name;
}

/** The holder of `dir`'s lock, if a readable one is there. */
export function lockHolderOf(dir: string): LockHolder | undefined {
  const h = readHolder(path.join(path.resolve(dir), LOCK_FILE));
  return typeof h === 'object' ? h : undefined;
}

/**
 * Breaks `dir`'s lock if its holder is the one given (by token): for a caller that knows by other means that
 * the holder is gone, e.g. a queue worker on another host whose job lease has lapsed. Returns whether it did.
 */
export function breakLockOf(dir: string, holder: LockHolder): boolean {
  const now = lockHolderOf(dir);
  if (!now || now.token !== holder.token) return false;
  breakStale(path.join(path.resolve(dir), LOCK_FILE), now);
  return true;
}
let hooksInstalled = false;
let heartbeat: NodeJS.Timeout | undefined;

/** A holder touches its lock file this often, so that other hosts can tell a live holder from a lost one. */
export const HEARTBEAT_MS = 15_000;
/** A lock from another host whose file has not been touched for this long belongs to a process that is gone. */
export const REMOTE_STALE_MS = 8 * HEARTBEAT_MS;

/**
 * Takes the lock of `dir` (which must exist) for this process, or throws FolderLockedError naming the holder.
 * Taking it again in the same process is a no-op. The lock is released by releaseFolder, on exit, and on SIGINT,
 * SIGTERM and SIGHUP; after a SIGKILL or a crash it stays, and the next process on this host finds its PID dead and
 * breaks it. The PID of a process on another host (a worker sharing the folder over a network file system) means
 * nothing here, so such a lock is broken only when its holder has stopped touching it (REMOTE_STALE_MS).
 */
export function lockFolder(dir: string, what = 'folder'): void {
  const key = path.resolve(dir);
  if (held.has(key)) return;
  const file = path.join(key, LOCK_FILE);
  const token = randomBytes(8).toString('hex');
  const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), token, ...(owner ? { owner } : {}) };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(file, me)) {
      held.set(key, me);
      installReleaseHooks();
      heartbeat ??= setInterval(touchHeldLocks, HEARTBEAT_MS).unref();
      return;
    }
    const holder = readHolder(file);
    if (holder === 'gone') continue;
    if (holder === 'unreadable') {
      // Created but not yet filled cannot happen (the file appears whole, by link); this is a damaged lock.
      throw new FolderLockedError(`${dir} has a lock file ${LOCK_FILE} that cannot be read; if no cgh process uses the ${what}, delete ${file} and rerun`);
    }
    const inUse = `${dir} is in use by process ${holder.pid} on host ${holder.host} (since ${holder.started})`;
    if (holder.host !== os.hostname()) {
      const quiet = Date.now() - lockTouchedAt(file);
      if (quiet < REMOTE_STALE_MS) throw new FolderLockedError(`${inUse}; wait for it to finish, or choose another --out`);
    } else if (processIsAlive(holder.pid)) {
      throw new FolderLockedError(`${inUse}; wait for it to finish or stop it, or choose another --out`);
    }
    breakStale(file, holder);
  }
  throw new FolderLockedError(`could not take the lock of ${dir}: other processes keep taking it; run one cgh command per ${what}`);
}

/** Releases this process's lock of `dir`, if it holds one and the file is still its own. */
export function releaseFolder(dir: string): void {
  const key = path.resolve(dir);
  const me = held.get(key);
  if (!me) return;
  held.delete(key);
  if (held.size === 0 && heartbeat) { clearInterval(heartbeat); heartbeat = undefined; }
  const file = path.join(key, LOCK_FILE);
  const now = readHolder(file);
  if (typeof now === 'object' && now.token === me.token) {
    try { fs.unlinkSync(file); } catch { /* already removed */ }
  }
}

/** The folders this process holds (tests). */
export function heldFolders(): string[] {
  return [...held.keys()];
}

function lockTouchedAt(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Marks every lock this process holds as alive now (run by a timer every HEARTBEAT_MS). */
export function touchHeldLocks(): void {
  const now = new Date();
  for (const dir of held.keys()) {
    try { fs.utimesSync(path.join(dir, LOCK_FILE), now, now); } catch { /* the folder went away; nothing to keep alive */ }
  }
}

/** Writes the holder to a private file, then links it into place: the lock appears whole or not at all. */
function createExclusive(file: string, me: LockHolder): boolean {
  const tmp = `${file}.${me.token}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(me) + '\n', { flag: 'wx' });
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* never created */ }
    throw fileWriteError(e, file);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fileWriteError(e, file);
  } finally {
    try { fs.unlinkSync(tmp); } catch { /* nothing to clean */ }
  }
}

function readHolder(file: string): LockHolder | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    return 'unreadable';
  }
  try {
    const v = JSON.parse(text);
    if (Number.isSafeInteger(v.pid) && typeof v.host === 'string' && typeof v.token === 'string') return v as LockHolder;
  } catch { /* fall through */ }
  return 'unreadable';
}

/**
 * Removes a dead holder's lock without removing a live one that a racing process put in its place: the file is
 * first renamed to a name only this process uses, then checked; if it turns out to be a fresh lock it is linked
 * back (unless yet another lock appeared, in which case that one wins and the fresh one's owner keeps its claim
 * through its token check on release).
 */
function breakStale(file: string, stale: LockHolder): void {
  const aside = `${file}.break-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = readHolder(aside);
  if (typeof moved === 'object' && moved.token !== stale.token) {
    try { fs.linkSync(aside, file); } catch { /* another process took the lock meanwhile */ }
  }
  try { fs.unlinkSync(aside); } catch { /* nothing to clean */ }
}

function installReleaseHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const releaseAll = () => { for (const dir of [...held.keys()]) releaseFolder(dir); };
  process.on('exit', releaseAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      releaseAll();
      // Let the signal do what it would have done without this handler, unless the program handles it itself.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

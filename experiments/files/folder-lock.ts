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

export interface LockHolder { pid: number; host: string; started: string; token: string }

const held = new Map<string, LockHolder>();
let hooksInstalled = false;

/**
 * Takes the lock of `dir` (which must exist) for this process, or throws FolderLockedError naming the holder.
 * Taking it again in the same process is a no-op. The lock is released by releaseFolder, on exit, and on SIGINT,
 * SIGTERM and SIGHUP; after a SIGKILL or a crash it stays, and the next process on this host finds its PID dead and
 * breaks it. A lock from another host is never broken automatically (its PID means nothing here).
 */
export function lockFolder(dir: string, what = 'folder'): void {
  const key = path.resolve(dir);
  if (held.has(key)) return;
  const file = path.join(key, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(file, me)) {
      held.set(key, me);
      installReleaseHooks();
      return;
    }
    const holder = readHolder(file);
    if (holder === 'gone') continue;
    if (holder === 'unreadable') {
      // Created but not yet filled cannot happen (the file appears whole, by link); this is a damaged lock.
      throw new FolderLockedError(`${dir} has a lock file ${LOCK_FILE} that cannot be read; if no cgh process uses the ${what}, delete ${file} and rerun`);
    }
    const inUse = `${dir} is in use by process ${holder.pid} on host ${holder.host} (since ${holder.started})`;
    if (holder.host !== os.hostname()) throw new FolderLockedError(`${inUse}; wait for it to finish, or if it is gone delete ${file}`);
    if (processIsAlive(holder.pid)) throw new FolderLockedError(`${inUse}; wait for it to finish or stop it, or choose another --out`);
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

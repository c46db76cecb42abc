// Writing files so that a full disk, a read-only file system or an I/O error never leaves a partial file behind.
import fs from 'node:fs';
import path from 'node:path';

/** A file could not be written; the message is one line naming the file, the cause and the fix. */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** The system calls used here, replaceable in tests that need a failure a real disk cannot be made to give. */
export interface FileCalls {
  openSync: typeof fs.openSync;
  writeSync(fd: number, data: Uint8Array, offset: number, length: number, position: number | null): number;
  fsyncSync: typeof fs.fsyncSync;
  closeSync: typeof fs.closeSync;
  renameSync: typeof fs.renameSync;
  ftruncateSync: typeof fs.ftruncateSync;
  fstatSync(fd: number): { size: number };
  unlinkSync: typeof fs.unlinkSync;
}

const NODE_CALLS: FileCalls = fs;

/** The temporary file a write of `file` by process `pid` goes through; a kill can leave it behind. */
export function tempFileOf(file: string, pid = process.pid): string {
  return `${file}.tmp-${pid}`;
}

const TEMP_NAME = /\.tmp-(\d+)$/;

/**
 * Removes the temporary files (`NAME.tmp-PID`) in `dir` left by processes that no longer run on this machine.
 * Those of live processes are kept: they may be writing. Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || processIsAlive(Number(m[1]))) continue;
    try {
      if (!fs.lstatSync(path.join(dir, name)).isFile()) continue;
      fs.unlinkSync(path.join(dir, name));
      removed.push(name);
    } catch {
      // Already gone, or not ours to remove: either way nothing depends on it.
    }
  }
  return removed;
}

/** Whether a process with this id runs on this machine (EPERM: it runs, as another user). */
export function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Replaces `file` with `data`: all of it written to a temporary file, fsynced, renamed over the target, then
 * the folder fsynced. A kill leaves the old or the new file; an error leaves the old file and no temporary one.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, calls: FileCalls = NODE_CALLS): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempFileOf(file);
  let fd: number | null = null;
  try {
    fd = calls.openSync(tmp, 'w');
    writeAll(calls, fd, bytes, null);
    calls.fsyncSync(fd);
    calls.closeSync(fd);
    fd = null;
    calls.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { calls.closeSync(fd); } catch { /* the write error is the one to report */ }
    try { calls.unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw fileWriteError(e, file);
  }
  syncFolder(path.dirname(file));
}

/**
 * Appends `text` (one or more complete lines) to `file` and fsyncs it. If the write fails or comes up short the
 * file is cut back to its previous size, so a reader never sees half a row.
 */
export function appendRowDurable(file: string, text: string, calls: FileCalls = NODE_CALLS): void {
  const bytes = Buffer.from(text, 'utf8');
  let fd: number;
  try {
    fd = calls.openSync(file, 'a');
  } catch (e) {
    throw fileWriteError(e, file);
  }
  let before = -1;
  try {
    before = calls.fstatSync(fd).size;
    writeAll(calls, fd, bytes, null);
    calls.fsyncSync(fd);
  } catch (e) {
    if (before >= 0) {
      try {
        calls.ftruncateSync(fd, before);
        calls.fsyncSync(fd);
      } catch { /* the write error is the one to report; a torn last line is not read as a row */ }
    }
    try { calls.closeSync(fd); } catch { /* as above */ }
    throw fileWriteError(e, file);
  }
  try {
    calls.closeSync(fd);
  } catch (e) {
    throw fileWriteError(e, file);
  }
}

/** fs.writeSync may write fewer bytes than asked (a disk filling up); write the rest until all are out or it fails. */
function writeAll(calls: FileCalls, fd: number, bytes: Uint8Array, position: number | null): void {
  let done = 0;
  while (done < bytes.length) {
    const n = calls.writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
    if (n <= 0) throw Object.assign(new Error('no bytes written'), { code: 'ENOSPC' });
    done += n;
  }
}

function syncFolder(dir: string): void {
  let dfd: number | null = null;
  try {
    dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
  } catch {
    // Some platforms cannot fsync a folder; the rename itself is still atomic.
  } finally {
    if (dfd !== null) fs.closeSync(dfd);
  }
}

/** One line for a failed write of `file`: what happened, in words, and what to do; the errno code only when unknown. */
export function fileWriteError(e: unknown, file: string): Error {
  if (e instanceof FileWriteError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (!code) return e as Error;
  const dir = path.dirname(path.resolve(file));
  const why: Record<string, string> = {
    ENOSPC: `no space left on the device holding ${file}; free space there (df -h ${dir}) or choose another --out, then rerun the command to continue`,
    EDQUOT: `the disk quota of the device holding ${file} is used up; free space or choose another --out, then rerun the command to continue`,
    EROFS: `${file} is on a read-only file system; remount it read-write or choose another --out`,
    EIO: `an I/O error on the device holding ${file}; check the disk (dmesg), then rerun the command to continue`,
    EACCES: `no permission to write ${file}; check the permissions of ${dir} or choose another --out`,
    EPERM: `no permission to write ${file}; check the permissions of ${dir} or choose another --out`,
    ENOENT: `cannot write ${file}: its folder ${dir} no longer exists; choose another --out`,
    ENOTDIR: `cannot write ${file}: a part of its path is a file, not a folder; choose another --out`,
    EISDIR: `cannot write ${file}: it is a folder; move it away or choose another --out`,
    EMFILE: `cannot write ${file}: too many open files; raise the limit (ulimit -n) and rerun the command to continue`,
  };
  return new FileWriteError(why[code] ?? `cannot write ${file} (${code}); check the device and permissions, or choose another --out`, code);
}

/**
 * Creates `dir` and its missing parents. Node's recursive mkdir reports ENOENT for every failure below an
 * existing folder (a read-only file system included), so on failure the first missing folder is created
 * alone to learn the real cause.
 */
export function makeFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    return;
  } catch (e) {
    let missing = path.resolve(dir);
    while (!fs.existsSync(path.dirname(missing)) && path.dirname(missing) !== missing) missing = path.dirname(missing);
    try {
      fs.mkdirSync(missing);
    } catch (cause) {
      throw fileWriteError(cause, missing);
    }
    throw fileWriteError(e, dir);
  }
}

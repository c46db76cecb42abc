// The file-writing module and the folder lock on their own: short writes, full and failing disks, lock races.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendRowDurable, writeFileAtomic, FileWriteError, type FileCalls } from '../experiments/files/durable-file.js';
import { LOCK_FILE, lockFolder, releaseFolder, REMOTE_STALE_MS, touchHeldLocks } from '../experiments/files/folder-lock.js';
import { mountTmpfs } from './helpers/tmpfs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-durable-'));
const errno = (code: string) => Object.assign(new Error(`${code}: raw message`), { code });

/** Node's own calls, except that writes give at most `chunk` bytes and fail with `code` after `budget` bytes. */
function failingCalls(budget: number, code: string, chunk = 7): FileCalls {
  let left = budget;
  return {
    ...fs,
    fstatSync: fs.fstatSync,
    writeSync: (fd, data, offset, length, position) => {
      if (left <= 0) throw errno(code);
      const n = Math.min(length, chunk, left);
      left -= n;
      return fs.writeSync(fd, data, offset, n, position);
    },
  };
}

test('writeFileAtomic writes every byte however short each write is', () => {
  const file = path.join(tmp, 'short-writes.bin');
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  writeFileAtomic(file, data, failingCalls(Infinity, 'EIO'));
  assert.equal(new Uint8Array(fs.readFileSync(file)), data);
});

test('a failed atomic write leaves the old file and no temporary one, and says what happened in one line', () => {
  const file = path.join(tmp, 'checkpoint.bin');
  fs.writeFileSync(file, 'the good one');
  for (const [code, pattern] of [
    ['ENOSPC', /^no space left on the device holding \S+checkpoint\.bin; free space there/],
    ['EIO', /^an I\/O error on the device holding \S+checkpoint\.bin; check the disk/],
    ['EROFS', /checkpoint\.bin is on a read-only file system; remount it read-write or choose another --out$/],
    ['EACCES', /^no permission to write \S+checkpoint\.bin; check the permissions/],
  ] as const) {
    let caught: unknown;
    try { writeFileAtomic(file, 'x'.repeat(100), failingCalls(40, code)); } catch (e) { caught = e; }
    assert.instance(caught, FileWriteError, code);
    const message = (caught as Error).message;
    assert.match(message, pattern);
    assert.not.match(message, new RegExp(`${code}:`), 'no raw errno text');
    assert.not.match(message, /\n/);
    assert.is(fs.readFileSync(file, 'utf8'), 'the good one', code);
    assert.equal(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], code);
  }
});

test('a failed append is cut back to the rows before it', () => {
  const file = path.join(tmp, 'metrics.jsonl');
  fs.writeFileSync(file, '{"row":1}\n{"row":2}\n');
  assert.throws(() => appendRowDurable(file, `{"row":3,"pad":"${'x'.repeat(200)}"}\n`, failingCalls(50, 'ENOSPC')), /no space left on the device holding/);
  assert.is(fs.readFileSync(file, 'utf8'), '{"row":1}\n{"row":2}\n');
  appendRowDurable(file, '{"row":3}\n', failingCalls(Infinity, 'EIO', 3));
  assert.is(fs.readFileSync(file, 'utf8'), '{"row":1}\n{"row":2}\n{"row":3}\n');
});

test('on a real full disk an append fails whole and the rows before it stay', () => {
  const disk = mountTmpfs(256 * 1024);
  if (typeof disk === 'string') {
    if (process.getuid?.() === 0) throw new Error(disk);
    console.log(`  (real full-disk append not run: ${disk})`);
    return;
  }
  try {
    const file = path.join(disk.dir, 'metrics.jsonl');
    const rows = '{"row":1}\n{"row":2}\n';
    fs.writeFileSync(file, rows);
    const filler = fs.openSync(path.join(disk.dir, 'filler'), 'w');
    try { for (;;) fs.writeSync(filler, new Uint8Array(4096)); } catch { /* the disk is full */ }
    fs.closeSync(filler);
    assert.throws(() => appendRowDurable(file, `{"row":3,"pad":"${'x'.repeat(20000)}"}\n`), (e: Error) => /^no space left on the device holding/.test(e.message));
    assert.is(fs.readFileSync(file, 'utf8'), rows);
  } finally {
    disk.unmount();
  }
});

/** Processes that each take the lock of `dir`, report, hold it briefly, and exit; returns how many got it. */
async function racers(dir: string, n: number): Promise<{ got: number; refused: string[] }> {
  const lockModule = new URL('../experiments/files/folder-lock.js', import.meta.url).href;
  const script = `import { lockFolder } from ${JSON.stringify(lockModule)};
    try { lockFolder(${JSON.stringify(dir)}); console.log('got'); await new Promise((r) => setTimeout(r, 1500)); }
    catch (e) { console.log('refused: ' + e.message); }`;
  const outs = await Promise.all(Array.from({ length: n }, () => new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', () => resolve(out.trim()));
  })));
  return { got: outs.filter((o) => o === 'got').length, refused: outs.filter((o) => o !== 'got') };
}

test('folder lock: of processes racing for a free folder, or for one whose holder died or went silent, exactly one gets it', async () => {
  const free = fs.mkdtempSync(path.join(tmp, 'free-'));
  const a = await racers(free, 4);
  assert.is(a.got, 1, a.refused.join(' | '));
  for (const line of a.refused) assert.match(line, new RegExp(`^refused: ${free} is in use by process \\d+ on host ${os.hostname()}`));
  assert.not.ok(fs.existsSync(path.join(free, LOCK_FILE)), 'released at exit');

  const stale = fs.mkdtempSync(path.join(tmp, 'stale-'));
  fs.writeFileSync(path.join(stale, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 17, host: os.hostname(), started: 'then', token: 'dead' }));
  const b = await racers(stale, 4);
  assert.is(b.got, 1, b.refused.join(' | '));

  const remote = fs.mkdtempSync(path.join(tmp, 'remote-'));
  const remoteLock = path.join(remote, LOCK_FILE);
  fs.writeFileSync(remoteLock, JSON.stringify({ pid: 2 ** 22 + 17, host: 'elsewhere', started: 'then', token: 'far' }));
  const c = await racers(remote, 1);
  assert.is(c.got, 0, 'a recently touched lock from another host is respected, whatever its PID');
  assert.match(c.refused[0], /is in use by process 4194321 on host elsewhere/);
  const lost = new Date(Date.now() - REMOTE_STALE_MS - 1000);
  fs.utimesSync(remoteLock, lost, lost);
  const d = await racers(remote, 3);
  assert.is(d.got, 1, `a lock its host stopped touching is stale: ${d.refused.join(' | ')}`);
});

test('folder lock: the holder\'s heartbeat keeps its lock file fresh, and release removes it', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'heartbeat-'));
  lockFolder(dir);
  const file = path.join(dir, LOCK_FILE);
  const old = new Date(Date.now() - REMOTE_STALE_MS * 2);
  fs.utimesSync(file, old, old);
  touchHeldLocks();
  assert.ok(Date.now() - fs.statSync(file).mtimeMs < REMOTE_STALE_MS, 'touched');
  releaseFolder(dir);
  assert.not.ok(fs.existsSync(file));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();

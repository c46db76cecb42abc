// What the run folder promises when the disk fills up or is read-only, when two processes share a folder,
// and when a kill left temporary files behind, tried through the built `cgh` command.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSafetensors } from '../engine/safetensors.js';
import { cgh, CLI } from './helpers/cli.js';
import { mountTmpfs } from './helpers/tmpfs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-folder-safety-'));
const TINY = ['--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--seed', '3'];
const rowsOf = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
const tempFiles = (dir: string) => fs.readdirSync(dir).filter((f) => /\.tmp-\d+$/.test(f));

/** Root can always mount a tmpfs; without root these disk tests cannot be set up and say so. */
function smallDisk(bytes: number) {
  const disk = mountTmpfs(bytes);
  if (typeof disk === 'string') {
    if (process.getuid?.() === 0) throw new Error(disk);
    console.log(`  (full-disk tests not run: ${disk}; run the tests as root)`);
    return null;
  }
  return disk;
}

test('a full disk keeps the last good checkpoint and every row, and exits 1 with one line; freeing space resumes', () => {
  const disk = smallDisk(2 * 2 ** 20);
  if (!disk) return;
  try {
    // An mlp with one hidden layer of 350: a checkpoint of about 1.1 MB, so the second one cannot be written beside the first.
    const args = ['train', '--hidden', '350', '--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--epochs', '3', '--seed', '3'];
    const out = path.join(disk.dir, 'run');
    const r = cgh([...args, '--out', out]);
    assert.is(r.code, 1, `exit ${r.code}; stdout ${r.stdout.slice(-300)}; stderr ${r.stderr}`);
    assert.is(r.errLines.length, 1, r.errLines.join(' | '));
    assert.match(r.errLines[0], /^cgh: no space left on the device holding \S+checkpoint\.safetensors; free space there/);
    assert.not.match(r.errLines[0], /ENOSPC/);
    assert.not.match(r.stdout, /done:/);
    const ck = decodeSafetensors(fs.readFileSync(path.join(out, 'checkpoint.safetensors')));
    const meta = JSON.parse(ck.metadata.cgh);
    assert.is(meta.epoch, 1, 'the checkpoint is the one of epoch 1');
    const rows = rowsOf(out);
    assert.ok(rows.length >= meta.metricsRows, `${rows.length} rows, the checkpoint saw ${meta.metricsRows}`);
    assert.is(rows.filter((row) => row.kind === 'epoch').length, 2, 'epochs 1 and 2 were recorded, none torn');
    assert.equal(tempFiles(out), [], 'no temporary file is left');
    assert.not.ok(fs.existsSync(path.join(out, 'summary.json')));

    const grown = spawnSync('mount', ['-o', 'remount,size=8m', disk.dir]);
    assert.is(grown.status, 0);
    const resumed = cgh([...args, '--out', out, '--resume']);
    assert.is(resumed.code, 0, resumed.stderr);
    assert.equal(rowsOf(out).filter((row) => row.kind === 'epoch').map((row) => row.epoch), [1, 2, 3]);
  } finally {
    disk.unmount();
  }
});

test('a full disk in cgh experiment: exit 1 with one line, and rerunning after freeing space loses no epoch', () => {
  const disk = smallDisk(1024 * 1024);
  if (!disk) return;
  try {
    // Checkpoints of about 640 kB (weights and momentum), so the second cannot be written beside the first.
    const args = (out: string) => ['experiment', 'label-noise', '--preset', 'tiny', '--hidden', '100', '--train-size', '300', '--test-size', '200',
      '--quiet', '--noise', '0', '--epochs', '3', '--records', 'off', '--dense-eval=false', '--out', out];
    const out = path.join(disk.dir, 'exp');
    const r = cgh(args(out));
    assert.is(r.code, 1, `exit ${r.code}; ${r.stderr}`);
    // Progress lines go to stderr too; the error is the one line starting with cgh:.
    const errors = r.errLines.filter((l) => l.startsWith('cgh:'));
    assert.is(errors.length, 1, r.errLines.join(' | '));
    assert.match(errors[0], /^cgh: no space left on the device holding \S+; free space there/);
    assert.is(r.errLines[r.errLines.length - 1], errors[0]);
    const run = path.join(out, 'noise-0');
    const meta = JSON.parse(decodeSafetensors(fs.readFileSync(path.join(run, 'checkpoint.safetensors'))).metadata.cgh);
    assert.ok(rowsOf(run).length >= meta.metricsRows, 'every row the checkpoint saw is there');
    assert.equal(tempFiles(run), []);
    assert.is(spawnSync('mount', ['-o', 'remount,size=8m', disk.dir]).status, 0);
    const again = cgh(args(out));
    assert.is(again.code, 0, again.stderr);
    const straight = path.join(tmp, 'exp-straight');
    assert.is(cgh(args(straight)).code, 0);
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ elapsed_s: _e, examples_per_s: _x, ...rest }) => rest);
    assert.equal(strip(rowsOf(run)), strip(rowsOf(path.join(straight, 'noise-0'))), 'the same rows as a run on a roomy disk');
  } finally {
    disk.unmount();
  }
});

test('a read-only file system is named as such (not ENOENT, no doubled code), and nothing is written', () => {
  const disk = smallDisk(4 * 2 ** 20);
  if (!disk) return;
  try {
    const out = path.join(disk.dir, 'run');
    const first = cgh(['train', ...TINY, '--epochs', '2', '--out', out]);
    assert.is(first.code, 0, first.stderr);
    fs.rmSync(path.join(out, 'summary.json'));
    const before = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
    disk.readOnly();
    for (const [args, what] of [[['--out', path.join(disk.dir, 'new', 'run')], 'a new folder'], [['--out', out, '--resume'], 'a resume']] as const) {
      const r = cgh(['train', ...TINY, '--epochs', '2', ...args]);
      assert.is(r.code, 1, `${what}: exit ${r.code}, ${r.stderr}`);
      assert.is(r.errLines.length, 1, r.errLines.join(' | '));
      assert.match(r.errLines[0], /is on a read-only file system; remount it read-write or choose another --out$/, what);
      assert.not.match(r.errLines[0], /ENOENT|EROFS/, what);
    }
    assert.is(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8'), before);
  } finally {
    disk.unmount();
  }
});

/** Starts cgh in the background; resolves with its exit code and output when it ends. */
function startCgh(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CGH_DEBUG: '' } });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

test('a second cgh train on a folder in use is refused with one line naming the holder; the rows are not doubled', async () => {
  const out = path.join(tmp, 'shared-run');
  const args = ['train', ...TINY, '--epochs', '12', '--out', out];
  const first = startCgh(args);
  await until(() => fs.existsSync(path.join(out, 'metrics.jsonl')), 'the first epoch row');
  // Held still (but alive) while the second runs, so that the two overlap however fast the machine is.
  first.child.kill('SIGSTOP');
  const second = cgh([...args, '--resume']);
  first.child.kill('SIGCONT');
  const firstDone = await first.done;
  assert.is(second.code, 1, `second: exit ${second.code}, ${second.stderr}`);
  assert.is(second.errLines.length, 1, second.errLines.join(' | '));
  assert.match(second.errLines[0], new RegExp(`^cgh: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by process ${first.child.pid} on host ${os.hostname()}`));
  assert.is(firstDone.code, 0, firstDone.stderr);
  assert.equal(rowsOf(out).map((r) => r.epoch), Array.from({ length: 12 }, (_, i) => i + 1), 'one row per epoch');
  assert.not.ok(fs.existsSync(path.join(out, '.cgh-lock')), 'the lock is released at exit');
});

test('a lock left by a killed process is stale: the next --resume takes the folder and finishes it', async () => {
  const out = path.join(tmp, 'killed-run');
  const args = ['train', ...TINY, '--epochs', '6', '--out', out];
  const first = startCgh(args);
  await until(() => fs.existsSync(path.join(out, 'checkpoint.safetensors')), 'the first checkpoint');
  first.child.kill('SIGKILL');
  await first.done;
  assert.ok(fs.existsSync(path.join(out, '.cgh-lock')), 'SIGKILL leaves the lock file');
  const resumed = cgh([...args, '--resume']);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.equal(rowsOf(out).map((r) => r.epoch), [1, 2, 3, 4, 5, 6]);
});

test('two cgh experiment processes on one folder: the second is refused, the rows are those of one run', async () => {
  const out = path.join(tmp, 'shared-exp');
  const args = ['experiment', 'label-noise', '--preset', 'tiny', '--hidden', '16', '--train-size', '300', '--test-size', '200', '--quiet', '--noise', '0', '--epochs', '3', '--out', out];
  const first = startCgh(args);
  await until(() => fs.existsSync(path.join(out, 'experiment.json')), 'the experiment folder');
  first.child.kill('SIGSTOP');
  const second = cgh(args);
  first.child.kill('SIGCONT');
  const firstDone = await first.done;
  assert.is(second.code, 1, `second: exit ${second.code}, ${second.stderr}`);
  assert.is(second.errLines.length, 1, second.errLines.join(' | '));
  assert.match(second.errLines[0], new RegExp(`is in use by process ${first.child.pid} on host ${os.hostname()}`));
  assert.is(firstDone.code, 0, firstDone.stderr);
  const alone = path.join(tmp, 'alone-exp');
  assert.is(cgh([...args.slice(0, -1), alone]).code, 0);
  const runs = fs.readdirSync(out).filter((d) => fs.existsSync(path.join(out, d, 'metrics.jsonl')));
  assert.ok(runs.length > 0);
  for (const run of runs) assert.is(rowsOf(path.join(out, run)).length, rowsOf(path.join(alone, run)).length, `${run}: rows of one run`);
});

test('temporary files of killed processes are removed when the run starts again; those of live processes stay', () => {
  const out = path.join(tmp, 'leftovers');
  const args = ['train', ...TINY, '--epochs', '2', '--out', out];
  assert.is(cgh(args).code, 0);
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const deadTemp = `checkpoint.safetensors.tmp-${dead}`;
  const liveTemp = `metrics.jsonl.tmp-${process.pid}`;
  fs.writeFileSync(path.join(out, deadTemp), new Uint8Array(4096));
  fs.writeFileSync(path.join(out, liveTemp), 'x');
  const r = cgh([...args, '--resume']);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(fs.existsSync(path.join(out, deadTemp)), 'the dead process\'s temporary file is removed');
  assert.ok(fs.existsSync(path.join(out, liveTemp)), 'a live process\'s temporary file is kept');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();

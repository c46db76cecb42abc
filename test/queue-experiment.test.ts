// A real experiment through the queue: cgh worker processes on a real redis-server train --preset tiny of the
// label-noise experiment; its rows and report tables equal those of the same command run locally, also
// when a worker is killed with SIGKILL in the middle of a run and another resumes it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, cgh, snapshot } from './helpers/cli.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-queue-exp-'));
const TINY = ['--preset', 'tiny', '--hidden', '16', '--train-size', '300', '--test-size', '200', '--quiet', '--noise', '0,50%', '--epochs', '3'];
const experiment = (out: string, extra: string[] = []) => ['experiment', 'label-noise', ...TINY, '--out', out, ...extra];
// Long enough that a run's first seconds (data, shader compilation: the thread is busy) on a loaded CPU adapter do not lapse it.
const LOCK = ['--lock-seconds', '15'];
let redis: TestRedis;
const children: ChildProcess[] = [];

interface Proc { child: ChildProcess; out: () => string; exit: Promise<number | null> }

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CGH_DEBUG: '' } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return { child, out: () => out, exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

async function until(cond: () => boolean, what: string, limitMs = 300_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A run's metrics rows without their timings. */
function rows(dir: string, run: string): string[] {
  const f = path.join(dir, run, 'metrics.jsonl');
  if (!fs.existsSync(f)) return [];
  const lines = fs.readFileSync(f, 'utf8').split('\n').filter(Boolean);
  return lines.map((l) => JSON.stringify({ ...JSON.parse(l), elapsed_s: undefined, examples_per_s: undefined }));
}

/** The report's tables (the CSV files beside report.html). */
function tables(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.csv')).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

let local = '';

test.before(async () => {
  redis = await startRedis({ password: 'exp-secret' });
  local = path.join(tmp, 'local');
  const r = cgh(experiment(local));
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('three cgh workers run cgh experiment --queue: rows and report tables equal the local run\'s', async () => {
  const workers = ['q1', 'q2', 'q3'].map((n) => start(['worker', '--queue', redis.url, '--name', n, ...LOCK]));
  const out = path.join(tmp, 'queued');
  const run = start(experiment(out, ['--queue', redis.url]));
  assert.is(await run.exit, 0, run.out());
  assert.match(run.out(), /2 done, 0 running, 0 waiting, 0 failed/);
  assert.match(run.out(), /report: .*report\.html/);
  for (const r of ['noise-0', 'noise-50']) assert.equal(rows(out, r), rows(local, r), `${r}: rows differ from the local run's`);
  const t = tables(out);
  assert.ok(Object.keys(t).length > 0, 'the report wrote its tables');
  assert.equal(t, tables(local));
  assert.not.match(fs.readFileSync(path.join(out, 'experiment.json'), 'utf8'), /exp-secret/, 'the recorded command masks the password');
  for (const w of workers) w.child.kill('SIGTERM');
  for (const w of workers) assert.is(await w.exit, 0, w.out());
});

test('a SIGKILLed cgh worker\'s run is resumed by another: rows equal the uninterrupted local run\'s', async () => {
  const out = path.join(tmp, 'killed');
  const queued = cgh(experiment(out, ['--queue', redis.url, '--detach']));
  assert.is(queued.code, 0, queued.stderr);
  const first = start(['worker', '--queue', redis.url, '--name', 'k1', ...LOCK]);
  // Mid-grid and mid-run: noise-0 finished, noise-50 into its second epoch (as the local resume test kills).
  await until(() => rows(out, 'noise-50').length > 45 && !fs.existsSync(path.join(out, 'noise-50', 'summary.json')), 'noise-50 to be mid-run');
  first.child.kill('SIGKILL');
  await first.exit;
  assert.not.ok(fs.existsSync(path.join(out, 'noise-50', 'summary.json')), 'killed before the run finished');
  const done = snapshot(path.join(out, 'noise-0'));
  const second = start(['worker', '--queue', redis.url, '--name', 'k2', ...LOCK]);
  const watch = start(['queue', 'run', out, '--queue', redis.url]);
  assert.is(await watch.exit, 0, watch.out());
  assert.match(second.out(), /noise-50: .*resuming after epoch/);
  assert.equal(rows(out, 'noise-50'), rows(local, 'noise-50'));
  assert.equal(snapshot(path.join(out, 'noise-0')), done, 'the finished run was not touched');
  second.child.kill('SIGTERM');
  assert.is(await second.exit, 0, second.out());
});

test.run();

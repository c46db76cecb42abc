// The grid queue on a real redis-server, with worker processes and the test grid executor: a dependent grid
// over three workers equals the uninterrupted run, as do runs stopped by SIGTERM, killed by SIGKILL and
// caught by a Redis restart; bad jobs are refused; bad URLs are one line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { fakeExecutor, writeFakeGrid, type FakeGrid } from './helpers/fake-grid.js';
import { freePort, startRedis, type TestRedis } from './helpers/redis.js';
import { connectRedis, parseRedisUrl } from '../experiments/queue/redis-url.js';
import { queueName, REGISTRY_KEY } from '../experiments/queue/names.js';
import { LOCK_FILE, lockFolder, releaseFolder } from '../experiments/files/folder-lock.js';

const ENTRY = fileURLToPath(new URL('./helpers/queue-cli.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-queue-'));
const PASSWORD = 'p@ss word';
let redis: TestRedis;
const children: ChildProcess[] = [];

interface Proc { child: ChildProcess; out: () => string; exit: Promise<number | null> }

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [ENTRY, ...args], { env: { ...process.env, CGH_DEBUG: '', ...env } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

function worker(name: string, url: string, extra: string[] = [], env: Record<string, string> = {}): Proc {
  return start(['worker', '--queue', url, '--name', name, ...extra], env);
}

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [ENTRY, ...args], { encoding: 'utf8', env: { ...process.env, CGH_DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, errLines: r.stderr.split('\n').filter(Boolean) };
}

/** Polls until `cond` holds; the limit only guards against a hang. */
async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rows(dir: string, run: string): string[] {
  const f = path.join(dir, run, 'metrics.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * The grid run in this process, in dependency order, with nothing in between: what every other way must
 * equal (without the steps' sleeps, which change no value).
 */
async function reference(name: string, grid: FakeGrid): Promise<string> {
  const dir = path.join(tmp, name);
  writeFakeGrid(dir, { ...grid, stepMs: 0 });
  const done = new Set<string>();
  while (done.size < grid.runs.length) {
    for (const r of grid.runs) {
      if (done.has(r.name) || !r.dependsOn.every((d) => done.has(d))) continue;
      await fakeExecutor.executeGridRun(dir, r.name, {});
      done.add(r.name);
    }
  }
  await fakeExecutor.writeGridReport(dir);
  return dir;
}

function sameRuns(dir: string, ref: string, grid: FakeGrid): void {
  for (const r of grid.runs) assert.equal(rows(dir, r.name), rows(ref, r.name), `${r.name}: metrics rows differ from the uninterrupted run's`);
  assert.is(fs.readFileSync(path.join(dir, 'report.txt'), 'utf8'), fs.readFileSync(path.join(ref, 'report.txt'), 'utf8'));
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.kill('SIGTERM');
  for (const p of procs) assert.is(await p.exit, 0, p.out());
}

test.before(async () => {
  redis = await startRedis({ password: PASSWORD });
});

test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const GRID: FakeGrid = {
  steps: 8, stepMs: 100,
  runs: [
    { name: 'a', dependsOn: [] }, { name: 'b', dependsOn: [] }, { name: 'c', dependsOn: [] },
    { name: 'd', dependsOn: ['a', 'b'] }, { name: 'e', dependsOn: ['d'] }, { name: 'f', dependsOn: ['a'] },
  ],
};

test('three workers run a dependent grid; its rows and report equal the uninterrupted run\'s and the local pool\'s; bad jobs are refused', async () => {
  const ref = await reference('ref-grid', GRID);
  const workers = ['w1', 'w2', 'w3'].map((n) => worker(n, redis.url));
  const dir = path.join(tmp, 'grid');
  writeFakeGrid(dir, GRID);
  await until(() => workers.every((w) => w.out().includes('is taking runs')), 'the workers to start');
  const run = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await run.exit, 0, run.out());
  assert.match(run.out(), /report: .*report\.txt/);
  assert.match(run.out(), /6 done, 0 running, 0 waiting, 0 failed/);
  sameRuns(dir, ref, GRID);
  const status = cli(['queue', 'status', dir, '--queue', redis.url]);
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stdout, /finished; report: /);
  const by = [...status.stdout.matchAll(/^ {2}\w+ +done on (w\d)$/gm)].map((m) => m[1]);
  assert.is(by.length, 6, status.stdout);
  assert.ok(new Set(by).size >= 2, `one worker did every run: ${status.stdout}`);
  assert.not.match(status.stdout + status.stderr, /p@ss/, 'the password is never printed');

  // Jobs that name a run outside the grid, another folder, or carry anything else are refused unrun.
  const target = parseRedisUrl(redis.url);
  const conn = connectRedis(target);
  const evil = path.join(tmp, 'evil');
  writeFakeGrid(evil, GRID);
  const name = queueName(evil);
  await conn.sadd(REGISTRY_KEY, name);
  const queue = new Queue(name, { connection: conn });
  const jobs = await Promise.all([
    queue.add('run', { folder: evil, run: 'not-a-run' }),
    queue.add('run', { folder: dir, run: 'a' }),
    queue.add('run', { folder: evil, run: 'a', command: 'touch /tmp/cgh-pwned' }),
    queue.add('run', { folder: 'relative/path', run: 'a' }),
  ]);
  await until(async () => (await Promise.all(jobs.map((j) => j.getState()))).every((s) => s === 'failed'), 'the bad jobs to fail');
  const reasons = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))!));
  assert.match(reasons[0].failedReason, /run "not-a-run" is not in the fake grid/);
  assert.match(reasons[1].failedReason, /which is not the folder of queue/);
  assert.match(reasons[2].failedReason, /carries \{command,folder,run\}, not \{folder,run\}/);
  assert.match(reasons[3].failedReason, /not an absolute path/);
  for (const j of reasons) assert.is(j.attemptsMade, 1, 'a refused job is not retried');
  assert.not.ok(fs.existsSync(path.join(evil, 'a')), 'nothing ran');
  assert.not.ok(fs.existsSync('/tmp/cgh-pwned'));
  await queue.close();
  await conn.quit();
  await stopAll(workers);

  // Part of the grid in two local worker processes, one per adapter.
  const local = path.join(tmp, 'local');
  const part: FakeGrid = { ...GRID, runs: GRID.runs.filter((r) => ['a', 'b', 'd'].includes(r.name)) };
  writeFakeGrid(local, part);
  const pool = cli(['queue', 'run', local, '--workers', '2'], { FAKE_ADAPTERS: 'gpu0,gpu1' });
  assert.is(pool.code, 0, pool.stderr);
  for (const r of ['a', 'b', 'd']) assert.equal(rows(local, r), rows(ref, r), r);
  const refLines = fs.readFileSync(path.join(ref, 'report.txt'), 'utf8').split('\n').filter((l) => /^[abd] /.test(l));
  assert.equal(fs.readFileSync(path.join(local, 'report.txt'), 'utf8').trim().split('\n'), refLines);
  assert.is(fs.readFileSync(path.join(local, 'a', 'adapters.txt'), 'utf8'), 'gpu0\n');
  assert.is(fs.readFileSync(path.join(local, 'b', 'adapters.txt'), 'utf8'), 'gpu1\n');
});

const LONG: FakeGrid = { steps: 30, stepMs: 100, runs: [{ name: 'x', dependsOn: [] }, { name: 'y', dependsOn: ['x'] }] };

test('SIGTERM puts the job back at a checkpoint; a SIGKILLed worker\'s job goes to another, which resumes it: rows equal an uninterrupted run\'s', async () => {
  const ref = await reference('ref-long', LONG);
  const dir = path.join(tmp, 'long');
  writeFakeGrid(dir, LONG);
  const lock = ['--lock-seconds', '2'];
  const first = worker('first', redis.url, lock);
  const queued = cli(['queue', 'run', dir, '--queue', redis.url, '--detach']);
  assert.is(queued.code, 0, queued.stderr);
  assert.match(queued.stderr, /queued 2 runs of the fake grid/);
  await until(() => rows(dir, 'x').length >= 5, 'x to start');
  first.child.kill('SIGTERM');
  assert.is(await first.exit, 0, first.out());
  assert.match(first.out(), /x: stopped and put back on the queue, to resume from its last checkpoint/);
  const status = cli(['queue', 'status', dir, '--queue', redis.url]);
  assert.match(status.stdout, /^ {2}x +waiting/m, status.stdout);
  const stoppedAt = JSON.parse(fs.readFileSync(path.join(dir, 'x', 'checkpoint.json'), 'utf8')).step;

  const second = worker('second', redis.url, lock);
  await until(() => rows(dir, 'x').length >= stoppedAt + 6 && rows(dir, 'x').length % 3 !== 0, 'x to resume past a checkpoint');
  assert.match(second.out(), new RegExp(`x: resuming after step ${stoppedAt}`));
  second.child.kill('SIGKILL');
  await second.exit;

  const third = worker('third', redis.url, lock);
  const watch = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await watch.exit, 0, watch.out());
  assert.match(watch.out(), /already on .* showing its progress/);
  assert.match(third.out(), /x: resuming after step/);
  sameRuns(dir, ref, LONG);
  const after = cli(['queue', 'status', dir, '--queue', redis.url]);
  assert.match(after.stdout, /^ {2}x +done on third$/m, after.stdout);
  await stopAll([third]);
});

const WIDE: FakeGrid = { steps: 40, stepMs: 100, runs: [{ name: 'p', dependsOn: [] }, { name: 'q', dependsOn: [] }, { name: 'r', dependsOn: ['p', 'q'] }] };

test('Redis restarted mid-grid, and down for longer than a lock: runs stop at a checkpoint, workers reconnect, nothing is lost', async () => {
  const ref = await reference('ref-wide', WIDE);
  const dir = path.join(tmp, 'wide');
  writeFakeGrid(dir, WIDE);
  const workers = ['r1', 'r2'].map((n) => worker(n, redis.url, ['--lock-seconds', '2']));
  assert.is(cli(['queue', 'run', dir, '--queue', redis.url, '--detach']).code, 0);
  await until(() => rows(dir, 'p').length >= 3 || rows(dir, 'q').length >= 3, 'a run to start');
  await redis.down();
  try {
    // A worker that cannot renew its lock for a lock period stops its run: Redis may give it to another.
    await until(() => workers.some((w) => /no heartbeat reached Redis for \d+s; stopping the run here/.test(w.out())), 'a run to stop without Redis');
  } finally {
    await redis.up();
  }
  const watch = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await watch.exit, 0, watch.out());
  assert.match(watch.out(), /3 done, 0 running, 0 waiting, 0 failed/);
  sameRuns(dir, ref, WIDE);
  assert.ok(workers.some((w) => /reconnected to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/.test(w.out())), workers.map((w) => w.out()).join('\n'));
  await stopAll(workers);
});

test('a run that keeps failing is retried, then marked failed; only its dependents wait; the same command again finishes the grid', async () => {
  const grid: FakeGrid = {
    steps: 3, stepMs: 50, failing: ['bad'],
    runs: [
      { name: 'good', dependsOn: [] }, { name: 'bad', dependsOn: [] },
      { name: 'after-good', dependsOn: ['good'] }, { name: 'after-bad', dependsOn: ['bad'] },
    ],
  };
  const ref = await reference('ref-failing', { ...grid, failing: [] });
  const dir = path.join(tmp, 'failing');
  writeFakeGrid(dir, grid);
  const w = worker('f1', redis.url);
  const first = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await first.exit, 1, first.out());
  const last = first.out().trim().split('\n').pop();
  assert.is(last, `cgh: 1 run(s) of ${dir} failed (bad), 1 not run; cgh queue status ${dir} says why; run the same command again to retry them`);
  const status = cli(['queue', 'status', dir, '--queue', redis.url]);
  assert.match(status.stdout, /^ {2}bad +failed on f1: bad failed on purpose after step 1$/m, status.stdout);
  assert.match(status.stdout, /^ {2}after-bad +blocked$/m);
  assert.match(status.stdout, /^ {2}after-good +done on f1$/m);
  assert.match(w.out(), /bad: started \(.*attempt 3\)/, 'tried three times');
  const goodRows = rows(dir, 'good');
  writeFakeGrid(dir, { ...grid, failing: [] });
  const again = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await again.exit, 0, again.out());
  assert.match(again.out(), /queued 4 runs/);
  assert.equal(rows(dir, 'good'), goodRows, 'a finished run is read back, not run again');
  sameRuns(dir, ref, grid);
  await stopAll([w]);
});

test('a run folder held by a live local process waits for it; one held by a vanished worker on another host is taken over', async () => {
  const grid: FakeGrid = { steps: 3, stepMs: 50, runs: ['held', 'orphan', 'foreign'].map((name) => ({ name, dependsOn: [] })) };
  const ref = await reference('ref-locks', grid);
  const dir = path.join(tmp, 'locks');
  writeFakeGrid(dir, grid);
  for (const r of ['held', 'orphan', 'foreign']) fs.mkdirSync(path.join(dir, r));
  // This test process stands for a local cgh experiment training "held".
  lockFolder(path.join(dir, 'held'), 'run folder');
  const holder = (token: string, owner?: string) => JSON.stringify({ pid: 1, host: 'lost-host', started: '2026-01-01T00:00:00Z', token, owner });
  fs.writeFileSync(path.join(dir, 'orphan', LOCK_FILE), holder('aaaa', 'cgh worker lost'));
  fs.writeFileSync(path.join(dir, 'foreign', LOCK_FILE), holder('bbbb'));
  const w = worker('l1', redis.url, ['--lock-seconds', '1']);
  assert.is(cli(['queue', 'run', dir, '--queue', redis.url, '--detach']).code, 0);
  const done = (r: string) => fs.existsSync(path.join(dir, r, 'done.json'));
  await until(() => done('orphan'), 'the orphaned run to be taken over');
  assert.match(w.out(), /took over the lock of cgh worker lost on lost-host, whose lease on the run lapsed/);
  await until(() => /held: .*held is in use by process \d+ on host .*; trying again in 1s/.test(w.out()), 'the held run to wait');
  await until(() => /foreign: .*foreign is in use by process 1 on host lost-host/.test(w.out()), 'the foreign-held run to wait');
  assert.not.ok(done('held') || done('foreign'), 'a run held by anything but a lapsed worker is not run');
  releaseFolder(path.join(dir, 'held'));
  fs.unlinkSync(path.join(dir, 'foreign', LOCK_FILE));
  const watch = start(['queue', 'run', dir, '--queue', redis.url]);
  assert.is(await watch.exit, 0, watch.out());
  sameRuns(dir, ref, grid);
  await stopAll([w]);
});

test('TLS with a password: rediss:// works with the server\'s CA', async () => {
  const tls = await startRedis({ password: 'tls-secret', tls: true });
  try {
    const env = { NODE_EXTRA_CA_CERTS: tls.caFile! };
    const dir = path.join(tmp, 'tls');
    const grid: FakeGrid = { steps: 3, stepMs: 50, runs: [{ name: 'only', dependsOn: [] }] };
    writeFakeGrid(dir, grid);
    const w = worker('tls-worker', tls.url, [], env);
    const run = start(['queue', 'run', dir, '--queue', tls.url], env);
    assert.is(await run.exit, 0, run.out());
    assert.is(rows(dir, 'only').length, 3);
    const untrusted = cli(['queue', 'status', dir, '--queue', tls.url]);
    assert.is(untrusted.code, 1);
    assert.is(untrusted.errLines.length, 1, untrusted.stderr);
    assert.match(untrusted.errLines[0], /^cgh: cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 \(.*\)/);
    await stopAll([w]);
  } finally {
    await tls.stop();
  }
});

test('an unreachable or refusing queue URL is one line naming it, password masked; a malformed one is a usage error', async () => {
  const port = await freePort();
  const down = cli(['worker', '--queue', `redis://:hunter2@127.0.0.1:${port}/0`]);
  assert.is(down.code, 1);
  assert.equal(down.errLines, [`cgh: cannot reach Redis at redis://:***@127.0.0.1:${port}/0 (ECONNREFUSED); start redis-server there or check --queue`]);
  const wrong = cli(['queue', 'status', path.join(tmp, 'grid'), '--queue', `redis://:wrong@127.0.0.1:${redis.port}`]);
  assert.is(wrong.code, 1);
  assert.equal(wrong.errLines,
    [`cgh: cannot reach Redis at redis://:***@127.0.0.1:${redis.port} (the password or user was refused); start redis-server there or check --queue`]);
  const bad = cli(['worker', '--queue', 'http://127.0.0.1:6379']);
  assert.is(bad.code, 2);
  assert.is(bad.errLines.length, 1);
  assert.match(bad.errLines[0], /^cgh: --queue http:\/\/127\.0\.0\.1:6379 is not a redis:\/\/ or rediss:\/\/ URL/);
  const none = cli(['worker'], { CGH_QUEUE: '' });
  assert.is(none.code, 2);
  assert.match(none.errLines[0], /needs --queue redis:\/\/HOST:PORT/);
});

test.run();

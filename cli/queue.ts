// `cgh queue run DIR` and `cgh queue status DIR`: an experiment folder's grid on a Redis queue (or in local worker processes).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { GridExecutor, GridPlan } from '../experiments/queue/executor.js';
import type { GridProgress } from '../experiments/queue/progress.js';
import { runLocalPool } from '../experiments/queue/local-pool.js';
import { helpText, parseArgs, UsageError } from './args.js';
import { loadGridExecutor } from './grid-executor.js';
import { openQueue, parseTarget, QUEUE_FLAG, queueUrl } from './queue-connect.js';

/** Where a folder records the queue it was put on (the URL without its password), for cgh queue status. */
export const QUEUE_FILE = 'queue.json';

export interface QueueDeps {
  executor: GridExecutor;
  /** Names of this machine's adapters, for --workers N. */
  adapters: () => Promise<string[]>;
}

const RUN_SPEC = {
  name: 'queue run DIR',
  summary: 'Runs the grid of an experiment folder (made by cgh experiment) on a Redis queue served by cgh worker, or in N local worker processes.',
  flags: [
    QUEUE_FLAG,
    { name: 'detach', type: 'boolean', help: 'queue the grid and return at once; cgh queue status DIR shows its progress' },
    { name: 'workers', type: 'int', min: 1, metavar: 'N', help: 'without a queue: N local worker processes, one per adapter where there are several' },
  ],
} as const;

const STATUS_SPEC = {
  name: 'queue status DIR',
  summary: 'Shows the progress of an experiment folder\'s queued grid: each run done, running (on which worker), waiting or failed.',
  flags: [
    { name: 'queue', type: 'string', metavar: 'URL', help: 'Redis of the queue (default: $CGH_QUEUE, else the one DIR was queued on if it needs no password)' },
  ],
} as const;

function queueHelp(): string {
  return ['usage: cgh queue run DIR [flags] | cgh queue status DIR [flags]', '', RUN_SPEC.summary, STATUS_SPEC.summary, '',
    'cgh queue run --help and cgh queue status --help show their flags.'].join('\n');
}

export async function queueCommand(argv: string[], deps?: QueueDeps): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { console.log(queueHelp()); return; }
  const dirs = rest.filter((x, i) => !x.startsWith('--') && !(i > 0 && /^--(queue|workers)$/.test(rest[i - 1])));
  const flags = rest.filter((x) => !dirs.includes(x));
  if (sub === 'run') {
    const a = parseArgs(RUN_SPEC, flags);
    if (a.help) { console.log(helpText(RUN_SPEC)); return; }
    const dir = oneDir(dirs, 'run');
    const d = deps ?? await defaultQueueDeps();
    const url = queueUrl(a.queue);
    if (url && a.workers !== undefined) throw new UsageError('--workers N runs local worker processes without a queue; give either --queue or --workers');
    if (url) { await queueGrid(dir, url, a.detach, d.executor); return; }
    if (a.detach) throw new UsageError('--detach needs --queue URL (local workers stop with this command)');
    await runGridLocally(dir, a.workers ?? 1, d);
    return;
  }
  if (sub === 'status') {
    const a = parseArgs(STATUS_SPEC, flags);
    if (a.help) { console.log(helpText(STATUS_SPEC)); return; }
    const dir = oneDir(dirs, 'status');
    const d = deps ?? await defaultQueueDeps();
    await showStatus(dir, a.queue, d.executor);
    return;
  }
  throw new UsageError(`unknown queue command "${sub}"; use cgh queue run DIR or cgh queue status DIR`);
}

export async function defaultQueueDeps(): Promise<QueueDeps> {
  const executor = await loadGridExecutor();
  return { executor, adapters: async () => (await import('../engine/device.js')).listAdapters().then((l) => l.map((x) => x.name)) };
}

function oneDir(dirs: string[], sub: string): string {
  if (dirs.length !== 1) throw new UsageError(`cgh queue ${sub} takes one experiment folder, got ${dirs.length}; e.g. cgh queue ${sub} runs/label-noise-mnist`);
  return dirs[0];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Puts the folder's grid on the queue, then (unless detached) shows its progress until it is done. */
export async function queueGrid(dir: string, url: string, detach: boolean, executor: GridExecutor): Promise<void> {
  await queueGrids([dir], url, detach, executor);
}

/**
 * Puts several folders' grids on the queue at once (their runs spread over the workers together), then
 * (unless detached) shows each one's progress until its report is written; failures are reported at the end.
 */
export async function queueGrids(dirs: string[], url: string, detach: boolean, executor: GridExecutor): Promise<void> {
  const target = parseTarget(url);
  const conn = await openQueue(target, log);
  try {
    const { enqueueGrid } = await import('../experiments/queue/producer.js');
    const plans: GridPlan[] = [];
    for (const dir of dirs) {
      const q = await enqueueGrid(conn, dir, executor);
      writeQueueFile(dir, target.display, q.queue);
      log(q.fresh ? `queued ${q.plan.runs.length} runs of the ${q.plan.experiment} grid of ${dir} on ${target.display} (queue ${q.queue})`
        : `the ${q.plan.experiment} grid of ${dir} is already on ${target.display} (queue ${q.queue}); showing its progress`);
      plans.push(q.plan);
    }
    if (detach) { for (const dir of dirs) log(`cgh queue status ${dir} shows its progress`); return; }
    const problems: string[] = [];
    for (const [i, dir] of dirs.entries()) {
      try {
        finish(dir, await watchGrid(conn, dir, plans[i]));
      } catch (e) {
        if (dirs.length === 1) throw e;
        problems.push((e as Error).message);
      }
    }
    if (problems.length > 0) throw new Error(problems.join('; '));
  } finally {
    await conn.quit().catch(() => conn.disconnect());
  }
}

/** Progress lines as runs change state, until the grid job has written the report (or failed). */
async function watchGrid(conn: Redis, dir: string, plan: GridPlan): Promise<GridProgress> {
  const { gridProgress, summaryLine } = await import('../experiments/queue/progress.js');
  const seen = new Map<string, string>();
  let lastSummary = '';
  let warnedIdle = false;
  for (;;) {
    const p = await gridProgress(conn, dir, plan);
    for (const r of p.runs) {
      const key = `${r.state} ${r.worker ?? ''}`;
      const changed = seen.get(r.run) !== key && (seen.has(r.run) || r.state !== 'waiting');
      if (changed) log(`${r.run}: ${r.state}${r.worker && r.state !== 'waiting' ? ` on ${r.worker}` : ''}`);
      seen.set(r.run, key);
    }
    const summary = summaryLine(p);
    if (summary !== lastSummary) log(`${path.basename(dir)}: ${summary}; workers: ${p.workers.join(', ') || 'none'}`);
    lastSummary = summary;
    if (p.workers.length === 0 && !warnedIdle && p.grid === 'in-progress') {
      log('no worker is connected to this queue yet; start one on each GPU machine with cgh worker --queue URL');
      warnedIdle = true;
    }
    if (p.grid === 'done' || p.grid === 'failed') return p;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function finish(dir: string, p: GridProgress): void {
  if (p.grid === 'failed') throw new Error(`the grid of ${dir} failed: ${p.failedReason?.split('\n')[0]}; fix that and run the same command again`);
  const r = p.result!;
  console.error(`report: ${r.report}`);
  if (r.failed.length > 0) {
    throw new Error(`${failures(dir, r.failed, r.blocked)}; cgh queue status ${dir} says why; run the same command again to retry them`);
  }
}

function failures(dir: string, failed: string[], blocked: string[]): string {
  return `${failed.length} run(s) of ${dir} failed (${failed.join(', ')})${blocked.length ? `, ${blocked.length} not run` : ''}`;
}

function writeQueueFile(dir: string, url: string, queue: string): void {
  const file = path.join(dir, QUEUE_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ url, queue }, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

async function showStatus(dir: string, flag: string | undefined, executor: GridExecutor): Promise<void> {
  let url = queueUrl(flag);
  if (!url) {
    let recorded: { url?: string } = {};
    try { recorded = JSON.parse(fs.readFileSync(path.join(dir, QUEUE_FILE), 'utf8')); } catch { /* not queued from here */ }
    if (!recorded.url) throw new UsageError(`${dir} was not queued (no ${QUEUE_FILE}); give --queue URL or CGH_QUEUE`);
    if (recorded.url.includes('***')) throw new UsageError(`${dir} was queued on ${recorded.url}; give its password with --queue URL or CGH_QUEUE`);
    url = recorded.url;
  }
  const plan = await executor.planGrid(dir);
  const conn = await openQueue(parseTarget(url), log);
  const { gridProgress, runLines, summaryLine } = await import('../experiments/queue/progress.js');
  try {
    const p = await gridProgress(conn, dir, plan);
    const state = p.grid === 'done' ? `finished; report: ${p.result?.report}`
      : p.grid === 'failed' ? `failed: ${p.failedReason}`
      : p.grid === 'not-queued' ? 'not on this queue' : 'in progress';
    console.log(`${plan.experiment} grid of ${dir} (queue ${p.queue}): ${state}`);
    console.log(`${summaryLine(p)}; workers connected: ${p.workers.join(', ') || 'none'}`);
    for (const l of runLines(p)) console.log(l);
  } finally {
    await conn.quit().catch(() => conn.disconnect());
  }
}

/** Without a queue: the grid in up to N local processes (cgh worker --folder DIR --run RUN), then the report. */
export async function runGridLocally(dir: string, workers: number, deps: QueueDeps): Promise<void> {
  const plan = await deps.executor.planGrid(dir);
  const adapters = workers > 1 ? await deps.adapters() : [];
  const children = new Set<ReturnType<typeof spawn>>();
  const forward = () => { for (const c of children) c.kill('SIGTERM'); };
  process.on('SIGTERM', forward);
  try {
    const r = await runLocalPool({
      plan, workers, adapters: adapters.length > 1 ? adapters : [], log,
      runInProcess: (run, adapter) => new Promise<boolean>((resolve) => {
        log(`${run}: started${adapter ? ` on ${adapter}` : ''}`);
        const args = [process.argv[1], 'worker', '--folder', dir, '--run', run, ...(adapter ? ['--adapter', adapter] : [])];
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
        children.add(child);
        child.on('close', (code) => { children.delete(child); resolve(code === 0); });
        child.on('error', () => { children.delete(child); resolve(false); });
      }),
    });
    const report = await deps.executor.writeGridReport(dir);
    console.error(`report: ${report}`);
    if (r.failed.length > 0) throw new Error(`${failures(dir, r.failed, r.blocked)}; run the same command again to resume`);
  } finally {
    process.off('SIGTERM', forward);
  }
}

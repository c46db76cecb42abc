import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GridPlan } from './executor.js';
import { blockedRuns } from './plan.js';
import { GRID_JOB_ID, queueName, runJobId } from './names.js';
import type { GridResult } from './grid-job.js';

export type RunState = 'done' | 'running' | 'waiting' | 'failed' | 'blocked';

export interface RunProgress {
  run: string;
  state: RunState;
  /** The worker running it, or the one that finished or failed it. */
  worker?: string;
  /** The run's latest log line while it runs; why it failed. */
  detail?: string;
}

export interface GridProgress {
  queue: string;
  /** The grid job's state: not-queued, in-progress, done or failed. */
  grid: 'not-queued' | 'in-progress' | 'done' | 'failed';
  result?: GridResult;
  failedReason?: string;
  runs: RunProgress[];
  counts: Record<RunState, number>;
  /** Names of the workers connected to the queue now. */
  workers: string[];
}

/** The progress of a folder's queued grid from the job states on its queue; runs not on it yet are waiting. */
export async function gridProgress(connection: Redis, folder: string, plan: GridPlan): Promise<GridProgress> {
  const name = queueName(path.resolve(folder));
  const queue = new Queue(name, { connection, skipMetasUpdate: true });
  try {
    // The state first: a job fetched before it completed would lack its result.
    const gridState = await queue.getJobState(GRID_JOB_ID);
    const gridJob = await queue.getJob(GRID_JOB_ID);
    const runs: RunProgress[] = [];
    for (const r of plan.runs) {
      const s = await queue.getJobState(runJobId(r.name));
      const job = await queue.getJob(runJobId(r.name));
      if (!job || s === 'unknown') { runs.push({ run: r.name, state: 'waiting' }); continue; }
      const progress = (job.progress && typeof job.progress === 'object' ? job.progress : {}) as { worker?: string; line?: string };
      const worker = progress.worker ?? job.processedBy;
      if (s === 'completed') runs.push({ run: r.name, state: 'done', worker });
      else if (s === 'active') runs.push({ run: r.name, state: 'running', worker, detail: progress.line });
      else if (s === 'failed') runs.push({ run: r.name, state: 'failed', worker, detail: job.failedReason });
      else runs.push({ run: r.name, state: 'waiting', detail: job.attemptsMade > 0 ? `retry ${job.attemptsMade + 1} after: ${job.failedReason}` : undefined });
    }
    const blocked = new Set(blockedRuns(plan, new Set(runs.filter((r) => r.state === 'failed').map((r) => r.run))));
    for (const r of runs) if (r.state === 'waiting' && blocked.has(r.run)) r.state = 'blocked';
    const counts: Record<RunState, number> = { done: 0, running: 0, waiting: 0, failed: 0, blocked: 0 };
    for (const r of runs) counts[r.state]++;
    const workers = (await queue.getWorkers().catch(() => [])).map((w) => workerName((w as { rawname?: string }).rawname)).filter((w): w is string => !!w);
    return {
      queue: name,
      grid: !gridJob ? 'not-queued' : gridState === 'completed' ? 'done' : gridState === 'failed' ? 'failed' : 'in-progress',
      result: gridState === 'completed' ? (gridJob!.returnvalue as GridResult) : undefined,
      failedReason: gridState === 'failed' ? gridJob!.failedReason : undefined,
      runs,
      counts,
      workers: [...new Set(workers)].sort(),
    };
  } finally {
    await queue.close();
  }
}

/** BullMQ names a worker's connection "bull:<base64 queue>:w:<worker name>". */
function workerName(client: string | undefined): string | undefined {
  if (!client) return undefined;
  const i = client.indexOf(':w:');
  return i < 0 ? undefined : client.slice(i + 3);
}

/** The summary line: counts of each state. */
export function summaryLine(p: GridProgress): string {
  const c = p.counts;
  const extra = c.blocked > 0 ? `, ${c.blocked} blocked by a failed run` : '';
  return `${c.done} done, ${c.running} running, ${c.waiting} waiting, ${c.failed} failed${extra} (of ${p.runs.length})`;
}

/** One line per run: name, state, worker and detail. */
export function runLines(p: GridProgress): string[] {
  const width = Math.max(4, ...p.runs.map((r) => r.run.length)) + 2;
  return p.runs.map((r) => {
    const who = r.worker && r.state !== 'waiting' ? ` on ${r.worker}` : '';
    return `  ${r.run.padEnd(width)}${r.state}${who}${r.detail ? `: ${r.detail.split('\n')[0].slice(0, 120)}` : ''}`;
  });
}

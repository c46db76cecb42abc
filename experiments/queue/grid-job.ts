import { Queue, WaitingChildrenError, type Job, type JobsOptions } from 'bullmq';
import type { GridExecutor, GridPlan } from './executor.js';
import { blockedRuns, checkPlan, readyRuns } from './plan.js';
import { RUN_JOB, runJobId } from './names.js';

/**
 * A run job: tried three times, 2 s apart, on whichever worker is free (a lost GPU or a full disk on one
 * machine), kept after it ends so the grid's progress stays readable.
 */
export function runJobOptions(run: string): JobsOptions {
  return {
    jobId: runJobId(run),
    attempts: 3,
    backoff: { type: 'fixed', delay: 2000 },
    removeOnComplete: false,
    removeOnFail: false,
    // A run that fails for good does not hold the grid: its dependents are reported as blocked.
    ignoreDependencyOnFailure: true,
  };
}

export interface GridResult {
  report: string;
  finished: string[];
  failed: string[];
  blocked: string[];
}

/** The run names of a parent's dependency keys (prefix:queue:run.NAME). */
function runsOf(keys: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const k of keys) {
    const id = k.slice(k.lastIndexOf(':') + 1);
    if (id.startsWith('run.')) out.add(id.slice(4));
  }
  return out;
}

/**
 * One step of a grid's parent job (BullMQ's flow pattern of a parent that adds its children in steps):
 * adds as children the runs whose dependencies have all finished and waits for them; when no run is left
 * to start and none is pending, writes the report. Repeating a step after a crash adds nothing twice: the
 * children already added are read back from the job's dependencies.
 */
export async function gridStep(job: Job, token: string, folder: string, executor: GridExecutor, queue: Queue, plan?: GridPlan): Promise<GridResult> {
  plan ??= await executor.planGrid(folder);
  checkPlan(plan);
  const deps = await job.getDependencies();
  const finished = runsOf(Object.keys(deps.processed ?? {}));
  const failed = new Set([...runsOf(Object.keys(deps.ignored ?? {})), ...runsOf(deps.failed ?? [])]);
  const started = new Set([...finished, ...failed, ...runsOf(deps.unprocessed ?? [])]);
  const blocked = new Set(blockedRuns(plan, failed));
  const ready = readyRuns(plan, finished, started).filter((r) => !blocked.has(r));
  if (ready.length > 0) {
    await queue.addBulk(ready.map((run) => ({
      name: RUN_JOB,
      data: { folder, run },
      opts: { ...runJobOptions(run), parent: { id: job.id!, queue: job.queueQualifiedName } },
    })));
  }
  if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
  const report = await executor.writeGridReport(folder);
  return { report, finished: [...finished], failed: [...failed], blocked: [...blocked] };
}

import path from 'node:path';
import { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GridExecutor, GridPlan } from './executor.js';
import { checkPlan, readyRuns } from './plan.js';
import { GRID_JOB, GRID_JOB_ID, queueName, REGISTRY_KEY, RUN_JOB } from './names.js';
import { runJobOptions } from './grid-job.js';

export class QueueStateError extends Error {
  override name = 'QueueStateError';
}

export interface Enqueued {
  queue: string;
  plan: GridPlan;
  /** False when the grid was already on the queue and still in progress (nothing was added). */
  fresh: boolean;
}

const IN_PROGRESS = new Set(['waiting', 'active', 'waiting-children', 'delayed', 'prioritized']);

/**
 * Puts an experiment folder's grid on its queue as one BullMQ flow: a grid job whose children are the
 * runs with no dependencies; the grid job adds the later runs as their dependencies finish (gridStep).
 * A grid still in progress there is left as it is; a finished or failed one is replaced by a fresh flow,
 * whose runs read back or resume what the folder already holds.
 */
export async function enqueueGrid(connection: Redis, folder: string, executor: GridExecutor): Promise<Enqueued> {
  const abs = path.resolve(folder);
  const plan = await executor.planGrid(abs);
  checkPlan(plan);
  const name = queueName(abs);
  const queue = new Queue(name, { connection });
  try {
    const existing = await queue.getJob(GRID_JOB_ID);
    if (existing && IN_PROGRESS.has(await existing.getState())) return { queue: name, plan, fresh: false };
    if (existing) {
      const active = await queue.getActiveCount();
      if (active > 0) {
        throw new QueueStateError(`${active} run(s) of the last queued grid of ${abs} are still running; `
          + `wait for them (cgh queue status ${folder}) or stop their workers`);
      }
      await queue.obliterate({ force: true });
    }
    await connection.sadd(REGISTRY_KEY, name);
    const flows = new FlowProducer({ connection });
    try {
      await flows.add({
        name: GRID_JOB,
        queueName: name,
        data: { folder: abs },
        opts: { jobId: GRID_JOB_ID, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: false, removeOnFail: false },
        children: readyRuns(plan, new Set(), new Set())
          .map((run) => ({ name: RUN_JOB, queueName: name, data: { folder: abs, run }, opts: runJobOptions(run) })),
      });
    } finally {
      await flows.close();
    }
    return { queue: name, plan, fresh: true };
  } finally {
    await queue.close();
  }
}

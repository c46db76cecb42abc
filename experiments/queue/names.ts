import { createHash } from 'node:crypto';
import path from 'node:path';

/** Redis set of the queue names of every grid ever queued there; workers watch it to find new grids. */
export const REGISTRY_KEY = 'cgh:grids';

/** Job names: the grid job schedules the runs and writes the report, a run job trains one run. */
export const GRID_JOB = 'grid';
export const RUN_JOB = 'run';

/** Job id of the grid job (one per queue) and of a run's job. */
export const GRID_JOB_ID = 'grid';
export function runJobId(run: string): string {
  return `run.${run}`;
}

/**
 * The queue of an experiment folder: its base name (readable in redis-cli and in cgh queue status) and a
 * hash of its absolute path (two folders of the same name do not share a queue). Every machine must see
 * the folder under the same path, which shared storage mounted at one place gives.
 */
export function queueName(folder: string): string {
  const abs = path.resolve(folder);
  const base = path.basename(abs).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'root';
  return `cgh-${base}-${createHash('sha256').update(abs).digest('hex').slice(0, 10)}`;
}

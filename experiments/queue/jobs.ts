import path from 'node:path';
import { queueName } from './names.js';

/**
 * What a job carries: an experiment folder and, for a run job, the run's name. Nothing else is read from
 * a job, and nothing in it is ever executed: the worker only hands these two names to the grid functions.
 */
export interface GridJobData {
  folder: string;
  run?: string;
}

export class JobDataError extends Error {
  override name = 'JobDataError';
}

/** Checks a job's data from Redis: only {folder} or {folder, run}, an absolute path that is this queue's folder. */
export function parseJobData(data: unknown, queue: string, withRun: boolean): Required<GridJobData> | { folder: string } {
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new JobDataError('the job carries no {folder, run} object');
  const keys = Object.keys(data).sort().join(',');
  const expected = withRun ? 'folder,run' : 'folder';
  if (keys !== expected) throw new JobDataError(`the job carries {${keys}}, not {${expected}}`);
  const { folder, run } = data as Record<string, unknown>;
  if (typeof folder !== 'string' || !path.isAbsolute(folder) || folder.includes('\0')) throw new JobDataError('the job\'s folder is not an absolute path');
  if (queueName(folder) !== queue) throw new JobDataError(`the job names ${folder}, which is not the folder of queue ${queue}`);
  if (!withRun) return { folder };
  if (typeof run !== 'string' || run === '' || run.length > 200) throw new JobDataError('the job\'s run is not a run name');
  return { folder, run };
}

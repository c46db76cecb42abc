/**
 * What the queue needs from the experiments layer: the three grid functions. The queue never trains
 * anything itself; a worker only names a folder and a run to `executeGridRun`, which resumes from the
 * folder's own checkpoint, so the folder stays the single source of truth and Redis only says who does what.
 */
export interface GridRunPlan {
  name: string;
  /** Runs that must be finished before this one starts. */
  dependsOn: string[];
}

export interface GridPlan {
  experiment: string;
  runs: GridRunPlan[];
}

export interface GridRunOptions {
  adapter?: string;
  log?: (line: string) => void;
  /** Aborting asks the run to checkpoint and stop. */
  signal?: AbortSignal;
}

export interface GridExecutor {
  planGrid(folder: string): Promise<GridPlan>;
  /** Runs or resumes exactly one run of the folder's grid; refuses a run not in the grid or with unfinished dependencies. */
  executeGridRun(folder: string, run: string, opts: GridRunOptions): Promise<void>;
  /** Writes the grid's report and returns its path. */
  writeGridReport(folder: string): Promise<string>;
}

import type { GridExecutor } from '../experiments/queue/executor.js';

/** The experiments layer's grid functions (experiments/protocols/grid.ts), which the queue's commands call. */
export async function loadGridExecutor(): Promise<GridExecutor> {
  const { planGrid, executeGridRun, writeGridReport } = await import('../experiments/protocols/grid.js');
  return { planGrid, executeGridRun, writeGridReport };
}

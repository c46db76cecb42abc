import type { GridExecutor } from '../experiments/queue/executor.js';
import { UsageError } from './args.js';

/**
 * The experiments layer's grid functions, which the queue's commands call. This build's experiments
 * layer does not offer them yet, so the queue commands refuse with one line instead of running anything.
 */
export async function loadGridExecutor(): Promise<GridExecutor> {
  throw new UsageError('the queue commands need the experiments layer\'s grid functions (planGrid, executeGridRun, writeGridReport), '
    + 'which this build does not have yet');
}

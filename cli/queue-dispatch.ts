// --queue URL [--detach] and --workers N of cgh experiment and cgh reproduce: where a grid's runs go.
import type { FlagSpec } from './args.js';
import { UsageError } from './args.js';

export const DISPATCH_FLAGS: FlagSpec[] = [
  { name: 'queue', type: 'string', metavar: 'URL', help: 'put the runs on the Redis queue at redis://[USER:PASSWORD@]HOST[:PORT][/DB] (or rediss://) for '
    + 'cgh worker processes on any machine that sees the folder, show their progress and write the report (see cgh worker --help)' },
  { name: 'detach', type: 'boolean', help: 'with --queue: return once the runs are queued; cgh queue status DIR shows their progress' },
  { name: 'workers', type: 'int', min: 1, metavar: 'N', help: 'without --queue: run the grid in N local worker processes, one per adapter where there are '
    + 'several' },
];

export interface Dispatch {
  /** Refuses before anything is written: a malformed or unreachable queue URL. */
  check(): Promise<void>;
  /** Sends the folders' grids to the workers and (unless detached) waits for their reports; false when detached. */
  run(folders: string[]): Promise<boolean>;
}

/** The dispatch the flags ask for, or null for the plain local path in this process. */
export function dispatchOf(a: { queue?: string; detach?: boolean; workers?: number }): Dispatch | null {
  if (a.queue !== undefined && a.workers !== undefined) {
    throw new UsageError('--workers N runs local worker processes without a queue; give either --queue or --workers');
  }
  if (a.detach && a.queue === undefined) throw new UsageError('--detach needs --queue URL (local workers stop with this command)');
  if (a.queue === undefined && a.workers === undefined) return null;
  return {
    async check() {
      if (a.queue === undefined) return;
      const { checkReachable } = await import('../experiments/queue/redis-url.js');
      const { parseTarget } = await import('./queue-connect.js');
      await checkReachable(parseTarget(a.queue));
    },
    async run(folders) {
      const { defaultQueueDeps, queueGrids, runGridLocally } = await import('./queue.js');
      const deps = await defaultQueueDeps();
      if (a.queue !== undefined) await queueGrids(folders, a.queue, !!a.detach, deps.executor);
      else for (const f of folders) await runGridLocally(f, a.workers!, deps);
      return !a.detach;
    },
  };
}

import type { GridPlan } from './executor.js';
import { blockedRuns, checkPlan, readyRuns } from './plan.js';

export interface LocalPoolOptions {
  plan: GridPlan;
  /** Processes at once. */
  workers: number;
  /** Adapter names to spread the processes over (one per process slot); empty: the default adapter. */
  adapters: string[];
  /** Runs one run in its own process on the given adapter; resolves true if it finished, false if it failed. */
  runInProcess: (run: string, adapter: string | undefined) => Promise<boolean>;
  log: (line: string) => void;
}

export interface LocalPoolResult {
  finished: string[];
  failed: string[];
  blocked: string[];
}

/**
 * Without a queue: up to `workers` runs of a grid at once, each in its own process on its own adapter
 * (slot i takes adapter i modulo their number), each run started as soon as its dependencies finish.
 */
export async function runLocalPool(o: LocalPoolOptions): Promise<LocalPoolResult> {
  checkPlan(o.plan);
  const finished = new Set<string>();
  const failed = new Set<string>();
  const started = new Set<string>();
  const freeSlots = Array.from({ length: Math.max(1, o.workers) }, (_, i) => i).reverse();
  const running = new Map<string, Promise<void>>();
  for (;;) {
    const blocked = new Set(blockedRuns(o.plan, failed));
    for (const run of readyRuns(o.plan, finished, started)) {
      if (blocked.has(run) || freeSlots.length === 0) continue;
      const slot = freeSlots.pop()!;
      const adapter = o.adapters.length > 0 ? o.adapters[slot % o.adapters.length] : undefined;
      started.add(run);
      running.set(run, o.runInProcess(run, adapter).catch(() => false).then((ok) => {
        (ok ? finished : failed).add(run);
        if (!ok) o.log(`${run}: failed`);
        freeSlots.push(slot);
        running.delete(run);
      }));
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  return { finished: [...finished], failed: [...failed], blocked: blockedRuns(o.plan, failed) };
}

import type { GridPlan } from './executor.js';

/** A grid plan the queue cannot schedule: a dependency on an unknown run, a cycle, a repeated name. */
export class PlanError extends Error {
  override name = 'PlanError';
}

/** Checks that every dependency names a run of the plan and that the dependencies have no cycle. */
export function checkPlan(plan: GridPlan): void {
  const names = new Set<string>();
  for (const r of plan.runs) {
    if (names.has(r.name)) throw new PlanError(`the ${plan.experiment} grid names run ${r.name} twice`);
    names.add(r.name);
  }
  for (const r of plan.runs) {
    for (const d of r.dependsOn) {
      if (!names.has(d)) throw new PlanError(`run ${r.name} of the ${plan.experiment} grid depends on ${d}, which is not in the grid`);
    }
  }
  const done = new Set<string>();
  while (done.size < plan.runs.length) {
    const next = readyRuns(plan, done, done);
    if (next.length === 0) throw new PlanError(`the ${plan.experiment} grid's dependencies form a cycle`);
    for (const n of next) done.add(n);
  }
}

/**
 * The runs that may start now: not started yet, and every dependency finished. The one rule both the
 * queue's grid job and the local worker pool schedule by.
 */
export function readyRuns(plan: GridPlan, finished: ReadonlySet<string>, started: ReadonlySet<string>): string[] {
  return plan.runs.filter((r) => !started.has(r.name) && r.dependsOn.every((d) => finished.has(d))).map((r) => r.name);
}

/** The runs that can never start because a run they depend on (directly or not) failed. */
export function blockedRuns(plan: GridPlan, failed: ReadonlySet<string>): string[] {
  const blocked = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of plan.runs) {
      if (!blocked.has(r.name) && r.dependsOn.some((d) => failed.has(d) || blocked.has(d))) { blocked.add(r.name); grew = true; }
    }
  }
  return plan.runs.map((r) => r.name).filter((n) => blocked.has(n));
}

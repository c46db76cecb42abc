import type { RunRecord } from '../verdicts/verdict.js';
import type { LoadedExperiment, LoadedRun } from './data.js';

/** A loaded run as verdicts read it: seed, finished (summary.json), rows and dead-unit fraction. */
export function recordOf(run: LoadedRun): RunRecord {
  const r: RunRecord = { name: run.name, seed: run.config.seed, finished: run.summary !== null, rows: run.rows };
  if (typeof run.summary?.deadFraction === 'number') r.deadFraction = run.summary.deadFraction;
  return r;
}

/** The runs of one condition over seeds: `name` and `name-seedK` (protocols/protocol.ts seededName), first seed first. */
export function conditionRuns(e: LoadedExperiment, name: string): LoadedRun[] {
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-seed(\\d+))?$`);
  return [...e.runs.values()].filter((r) => pattern.test(r.name)).sort((a, b) => seedIndex(a.name) - seedIndex(b.name));
}

function seedIndex(name: string): number {
  const m = /-seed(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
}

/** The condition as verdict records; empty when no run of it exists yet. */
export function condition(e: LoadedExperiment, name: string): RunRecord[] {
  return conditionRuns(e, name).map(recordOf);
}

/** A note naming the runs that have not finished: their curves are partial and they give no verdict. */
export function unfinishedNote(e: LoadedExperiment): string[] {
  const open = [...e.runs.values()].filter((r) => r.summary === null).map((r) => r.name);
  return open.length === 0 ? [] : [`Unfinished (curves partial, no verdict from them yet): ${open.join(', ')}.`];
}

/**
 * A set's curve averaged over a condition's seeds, with the band from the lowest to the highest seed, in
 * percent for accuracy. A point is kept where every seed that reached it was evaluated (same schedule).
 */
export function meanCurve(runs: LoadedRun[], set: string, field: 'acc' | 'loss'): { points: [number, number][]; band?: [number, number, number][] } {
  const scale = field === 'acc' ? 100 : 1;
  const byStep = new Map<number, { epoch: number; values: number[] }>();
  for (const r of runs) {
    for (const row of r.rows) {
      if (row.kind !== 'eval' || row.set !== set) continue;
      const v = field === 'acc' ? row.acc : row.loss ?? NaN;
      const at = byStep.get(row.step) ?? { epoch: row.epoch, values: [] };
      at.values.push(v * scale);
      byStep.set(row.step, at);
    }
  }
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  const points: [number, number][] = steps.map((s) => {
    const { epoch, values } = byStep.get(s)!;
    return [epoch, values.reduce((a, b) => a + b, 0) / values.length];
  });
  if (runs.length < 2) return { points };
  const band: [number, number, number][] = steps.map((s) => {
    const { epoch, values } = byStep.get(s)!;
    return [epoch, Math.min(...values), Math.max(...values)];
  });
  return { points, band };
}

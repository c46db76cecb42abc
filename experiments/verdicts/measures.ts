import { mean, sampleSd } from './stats.js';
import { evalRows, lastK, LAST_K, type RunRecord } from './verdict.js';

/** Per-run measures from metric rows: { value, sd (spread of the evaluations it averages), n (set size) }. */
export interface Measured { value: number; sd: number; n: number }

/** Final generalisation gap: training-sample accuracy minus test accuracy, each over the last k evaluations. */
export function gap(run: RunRecord, k = LAST_K, trainSet = 'train-sample'): Measured {
  const a = lastK(run, trainSet, k), b = lastK(run, 'test', k);
  return { value: a.value - b.value, sd: Math.hypot(a.sd, b.sd), n: Math.min(a.n, b.n) };
}

/**
 * Speed of learning a set: its accuracy averaged over time (epochs) from the start to `window` epochs,
 * by the trapezoidal rule between evaluations (the area under the curve divided by its length; higher is
 * faster). A run that ends earlier is averaged over what it covers.
 */
export function earlySpeed(run: RunRecord, set: string, window: number): Measured {
  const rows = evalRows(run, set).filter((r) => r.epoch <= window + 1e-9);
  const n = rows.length ? Number(rows[rows.length - 1].n) : NaN;
  if (rows.length === 0) return { value: NaN, sd: 0, n };
  if (rows.length === 1) return { value: Number(rows[0].acc), sd: 0, n };
  let area = 0;
  for (let i = 1; i < rows.length; i++) area += ((Number(rows[i].acc) + Number(rows[i - 1].acc)) / 2) * (rows[i].epoch - rows[i - 1].epoch);
  const span = rows[rows.length - 1].epoch - rows[0].epoch;
  return { value: span > 0 ? area / span : Number(rows[0].acc), sd: 0, n };
}

/** Test accuracy lost from its peak by the end (peak minus the mean of the last k evaluations). */
export function dropFromPeak(run: RunRecord, set = 'test', k = LAST_K): Measured {
  const rows = evalRows(run, set);
  const end = lastK(run, set, k);
  const peak = Math.max(...rows.map((r) => Number(r.acc)));
  return { value: rows.length ? peak - end.value : NaN, sd: end.sd, n: end.n };
}

/**
 * Epochs until a set's accuracy first reaches `goal`, interpolated linearly between the two evaluations
 * around the crossing; sd is half the gap between those evaluations (the schedule's resolution). NaN when
 * never reached.
 */
export function epochsTo(run: RunRecord, set: string, goal: number): Measured {
  const rows = evalRows(run, set);
  for (let i = 0; i < rows.length; i++) {
    const a = Number(rows[i].acc);
    if (a < goal) continue;
    if (i === 0) return { value: rows[0].epoch, sd: 0, n: NaN };
    const p = rows[i - 1], q = rows[i];
    const t = (goal - Number(p.acc)) / (a - Number(p.acc));
    return { value: p.epoch + t * (q.epoch - p.epoch), sd: (q.epoch - p.epoch) / 2, n: NaN };
  }
  return { value: NaN, sd: NaN, n: NaN };
}

/** The spread of a list of per-run values (for the report's error bands). */
export function spread(values: number[]): { mean: number; sd: number; min: number; max: number } {
  return { mean: mean(values), sd: sampleSd(values), min: Math.min(...values), max: Math.max(...values) };
}

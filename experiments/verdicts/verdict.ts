import { binomialSe, leastSquaresSlope, mean, sampleSd } from './stats.js';

/**
 * Verdicts on the paper's predictions, computed from metric rows alone (pure functions, browser-safe).
 *
 * A verdict has three outcomes. It first checks its premise (e.g. SGD memorised the corrupt examples);
 * when the premise fails the outcome is "cannot tell". It then compares a measured difference with a
 * margin of Z standard errors: beyond it in the predicted direction "agrees", beyond it the other way
 * "disagrees", inside it "cannot tell". A run that has not finished gives no verdict at all (outcome
 * null). Checks that hold by how the sets are built are "context": shown, never counted.
 */

export type Outcome = 'agrees' | 'disagrees' | 'cannot-tell';

/** Standard errors a difference must exceed to count (about a 95% two-sided interval). */
export const Z = 2;
/** Evaluations averaged at the end of a run. */
export const LAST_K = 5;

export interface Premise { text: string; met: boolean; evidence: string }

export interface Verdict {
  id: string;
  prediction: string;
  /** How the outcome is decided, in words, for the report. */
  rule: string;
  /** 'test' verdicts are counted; 'context' ones hold by construction and are only shown. */
  kind: 'test' | 'context';
  /** null: no verdict, because a run it needs is missing or unfinished (named in `waiting`). */
  outcome: Outcome | null;
  premise?: Premise;
  /** The numbers the outcome was decided from (accuracies as fractions). */
  evidence: Record<string, number>;
  /** The evidence in words. */
  text: string;
  waiting?: string[];
}

/** A metrics.jsonl row as verdicts read it (eval rows: set, acc, loss, n). */
export interface RowLike { kind: string; step: number; epoch: number; set?: string; acc?: number; loss?: number | null; n?: number }

/** One run: its seed, whether it finished (summary.json written), its rows and, when measured, its dead-unit fraction. */
export interface RunRecord { name: string; seed: number; finished: boolean; rows: readonly RowLike[]; deadFraction?: number }

/** The runs of one condition (rule, noise level, ...) over seeds. */
export type Condition = readonly RunRecord[];

export interface Estimate {
  mean: number;
  se: number;
  /** Per-seed values, in the order of the runs. */
  values: number[];
  seeds: number[];
  /** The binomial standard error of the pooled evaluated examples (0 for measures that are not accuracies). */
  floor: number;
  /** Where the standard error comes from. */
  basis: 'seeds' | 'one seed';
}

export function evalRows(run: RunRecord, set: string): RowLike[] {
  return run.rows.filter((r) => r.kind === 'eval' && r.set === set);
}

/** Mean of a set's accuracy (or loss) over the run's last k evaluations, their sd and the set's size. */
export function lastK(run: RunRecord, set: string, k = LAST_K, field: 'acc' | 'loss' = 'acc'): { value: number; sd: number; n: number } {
  const rows = evalRows(run, set).slice(-k);
  const values = rows.map((r) => Number(r[field]));
  return { value: mean(values), sd: values.length > 1 ? sampleSd(values) : 0, n: rows.length ? Number(rows[rows.length - 1].n) : NaN };
}

/**
 * A measure of a condition across seeds. With two or more seeds the standard error is the seeds'
 * sd / sqrt(seeds); with one seed it is the larger of the binomial error of the set's size and the
 * sd of the measure's own last evaluations. Both are floored at the binomial error of the pooled examples.
 */
export function estimate(runs: Condition, measure: (r: RunRecord) => { value: number; sd: number; n: number }): Estimate {
  const m = runs.map(measure);
  const values = m.map((x) => x.value);
  const mu = mean(values);
  const n = m.reduce((s, x) => s + (Number.isFinite(x.n) ? x.n : 0), 0);
  const floor = n > 0 && mu >= 0 && mu <= 1 ? binomialSe(mu, n) : 0;
  const seeds = runs.map((r) => r.seed);
  if (runs.length >= 2) return { mean: mu, se: Math.max(sampleSd(values) / Math.sqrt(values.length), floor), values, seeds, floor, basis: 'seeds' };
  return { mean: mu, se: Math.max(floor, m[0]?.sd ?? NaN), values, seeds, floor, basis: 'one seed' };
}

export function accuracyOf(runs: Condition, set: string, k = LAST_K): Estimate {
  return estimate(runs, (r) => lastK(r, set, k));
}

export interface Difference { diff: number; se: number; paired: boolean }

/**
 * a - b; paired over seeds when both conditions ran the same two or more seeds (then the error is the
 * seed spread of the per-seed differences, floored at the two binomial errors combined).
 */
export function difference(a: Estimate, b: Estimate): Difference {
  const paired = a.seeds.length >= 2 && a.seeds.length === b.seeds.length && a.seeds.every((s, i) => s === b.seeds[i]);
  if (paired) {
    const d = a.values.map((v, i) => v - b.values[i]);
    return { diff: mean(d), se: Math.max(sampleSd(d) / Math.sqrt(d.length), Math.hypot(a.floor, b.floor)), paired };
  }
  return { diff: a.mean - b.mean, se: Math.hypot(a.se, b.se), paired };
}

/** Outcome of a quantity predicted to be positive, given its standard error. */
export function decide(value: number, se: number): Outcome {
  if (!Number.isFinite(value) || !Number.isFinite(se)) return 'cannot-tell';
  if (value > Z * se) return 'agrees';
  if (value < -Z * se) return 'disagrees';
  return 'cannot-tell';
}

/** Names of the runs that are missing or unfinished; an empty condition counts as missing under `label`. */
export function waitingFor(conditions: Record<string, Condition | undefined>): string[] {
  const out: string[] = [];
  for (const [label, runs] of Object.entries(conditions)) {
    if (!runs || runs.length === 0) out.push(`${label} (no run)`);
    else for (const r of runs) if (!r.finished) out.push(`${r.name} (unfinished)`);
  }
  return out;
}

/** The verdict of a prediction whose runs are not all there yet. */
export function noVerdict(base: Pick<Verdict, 'id' | 'prediction' | 'rule' | 'kind'>, waiting: string[]): Verdict {
  return { ...base, outcome: null, evidence: {}, text: `no verdict: waiting for ${waiting.join(', ')}`, waiting };
}

export function pct(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a';
}

export function pts(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return 'n/a';
  const text = (x * 100).toFixed(digits);
  return `${/^-0\.?0*$/.test(text) ? text.slice(1) : x >= 0 ? `+${text}` : text} pts`;
}

/** "62.0% ± 1.3 (3 seeds)" */
export function showEstimate(e: Estimate): string {
  return `${pct(e.mean)} ± ${(e.se * 100).toFixed(1)}${e.basis === 'seeds' ? ` (${e.values.length} seeds)` : ' (1 seed)'}`;
}

/** Counted verdicts and their outcomes: agrees, disagrees, cannot tell, and those without a verdict. */
export function tally(verdicts: readonly Verdict[]): { agrees: number; disagrees: number; cannotTell: number; pending: number; context: number } {
  const t = { agrees: 0, disagrees: 0, cannotTell: 0, pending: 0, context: 0 };
  for (const v of verdicts) {
    if (v.kind === 'context') t.context++;
    else if (v.outcome === null) t.pending++;
    else if (v.outcome === 'agrees') t.agrees++;
    else if (v.outcome === 'disagrees') t.disagrees++;
    else t.cannotTell++;
  }
  return t;
}

export interface Trend { slope: number; se: number; levels: number[]; means: number[] }

/**
 * Least-squares slope of a measure over levels (noise, s, difficulty), using every level: weighted by
 * each level's 1/se^2, its error the larger of the weighted one and the residual one (from 3 levels on),
 * so a curve that wanders between levels is not read as a clean trend.
 */
export function trend(levels: readonly number[], estimates: readonly Estimate[]): Trend {
  const means = estimates.map((e) => e.mean);
  const ok = levels.map((_, i) => i).filter((i) => Number.isFinite(means[i]) && estimates[i].se > 0);
  const x = ok.map((i) => levels[i]), y = ok.map((i) => means[i]), se = ok.map((i) => estimates[i].se);
  const weighted = leastSquaresSlope(x, y, se);
  const plain = x.length >= 3 ? leastSquaresSlope(x, y) : { se: 0 };
  return { slope: weighted.slope, se: Math.max(weighted.se, Number.isFinite(plain.se) ? plain.se : 0), levels: [...levels], means };
}

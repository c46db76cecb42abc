import { epochsTo, finalOf, pct, type LoadedRun } from './data.js';

/**
 * Comparisons behind the reports' agreement lines. Learning speed is measured as the first evaluated
 * epoch at which a set's accuracy reaches a goal; a set that never reaches it counts as slower than any
 * that does, and two that never reach it are compared by their final accuracy.
 */

export interface Speed { epochs: number | null; final: number }

export function speed(run: LoadedRun | undefined, set: string, goal: number): Speed {
  return { epochs: epochsTo(run, set, goal), final: finalOf(run, set) };
}

/** -1 when a is learned faster than b, 1 when slower, 0 when tied. */
export function compareSpeed(a: Speed, b: Speed): number {
  if (a.epochs !== null && b.epochs !== null) return Math.sign(a.epochs - b.epochs);
  if (a.epochs !== null) return -1;
  if (b.epochs !== null) return 1;
  return Math.sign(b.final - a.final);
}

export function speedText(s: Speed, budget: number): string {
  return s.epochs !== null ? `${+s.epochs.toFixed(2)} ep` : `not in ${+budget.toFixed(1)} ep (final ${pct(s.final)})`;
}

/**
 * Whether speeds get slower (or stay equal) along the list, and are strictly slower at the end than at
 * the start: the reading of "learned more slowly as X increases" at the evaluation schedule's resolution.
 */
export function slowsDown(speeds: Speed[]): boolean {
  if (speeds.length < 2) return false;
  for (let i = 1; i < speeds.length; i++) if (compareSpeed(speeds[i - 1], speeds[i]) > 0) return false;
  return compareSpeed(speeds[0], speeds[speeds.length - 1]) < 0;
}

/** Whether values never decrease along the list and end above where they start. */
export function increases(values: number[]): boolean {
  if (values.length < 2 || values.some((v) => !Number.isFinite(v))) return false;
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1]) return false;
  return values[values.length - 1] > values[0];
}

export function noiseLabel(p: number): string {
  return `${+(p * 100).toFixed(1)}%`;
}

/** "0%: 3 ep, 25%: 5 ep" */
export function listing<T>(keys: string[], values: T[], show: (v: T) => string): string {
  return keys.map((k, i) => `${k}: ${show(values[i])}`).join(', ');
}

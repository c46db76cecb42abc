// What several protocols' flags share: accuracy and noise-level values typed as fractions or percentages.
import { NoiseError, parseNoiseLevels, validateNoiseLevel } from '../run/label-noise.js';
import { ExperimentError } from '../run/grid-run.js';

/** "50%" or "0.5" as a fraction in [0, 1]. */
export function parseFraction(text: string, flag: string): number {
  try {
    return parseNoiseLevels(text, flag)[0];
  } catch (e) {
    if (e instanceof NoiseError) throw new ExperimentError(e.message.replace('noise', 'value'));
    throw e;
  }
}

/** A --noise list ("0,25%,0.5"). */
export function parseNoise(text: unknown): number[] {
  return parseNoiseLevels(String(text), '--noise');
}

export function validateNoise(levels: readonly number[]): void {
  for (const p of levels) validateNoiseLevel(p);
}

/** Levels as percentages, the form the flags are written in ("0%,100%"). */
export function percentList(levels: readonly number[]): string {
  return levels.map((p) => `${+(p * 100).toFixed(2)}%`).join(',');
}

/** The flag of a budget when it is set. */
export function budgetFlag(flag: string, value: number | undefined): string[] {
  return value === undefined ? [] : [flag, String(value)];
}

/** The cheap check of a --threshold. */
export function validateThreshold(t: number, what = '--threshold'): void {
  if (!Number.isFinite(t) || t <= 0 || t >= 1) throw new ExperimentError(`${what} ${t} must be a training accuracy strictly between 0 and 1 (e.g. 0.5 `
    + `for 50%)`);
}

/** The --seeds flag of the experiments that repeat each condition over seeds. */
export const SEEDS_FLAG = {
  name: 'seeds', type: 'int', min: 1, default: 1, metavar: 'N',
  help: 'seeds per condition (initialisation and batch order; the label noise is shared): the verdicts compare means with a margin from their spread',
} as const;

export function validateSeeds(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ExperimentError(`--seeds ${n} must be a whole number of at least 1`);
}

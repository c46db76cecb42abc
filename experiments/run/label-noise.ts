import type { Rng } from '../../engine/random.js';

/**
 * Label noise as in the paper (Section 2) and the authors' code: with probability p a training label
 * is replaced by one drawn uniformly from all K classes (possibly the same one). An example is
 * *corrupt* only when its label actually changed, so the expected corrupt fraction is p(1 - 1/K).
 * Browser-safe: no Node imports.
 */

/** A bad noise level; the message is one line naming the problem and the fix. */
export class NoiseError extends Error {
  override name = 'NoiseError';
}

export interface NoisyLabels {
  /** The labels to train on. */
  labels: Int32Array;
  /** The dataset's own labels, kept for every example. */
  original: Int32Array;
  /** 1 where labels[i] !== original[i]. */
  corrupt: Uint8Array;
}

/** Throws unless p is a fraction in [0, 1]. `what` names the option in the message. */
export function validateNoiseLevel(p: number, what = '--noise'): void {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) {
    throw new NoiseError(`${what} ${p} is outside [0, 1]; give a fraction such as 0.5 or a percentage such as 50%`);
  }
}

/**
 * A noise level as typed by a user: a fraction ("0.25") or a percentage ("25%").
 * A bare number above 1 ("50") is refused rather than guessed at.
 */
export function parseNoiseLevel(text: string, what = '--noise'): number {
  const t = text.trim();
  const percent = t.endsWith('%');
  const body = percent ? t.slice(0, -1).trim() : t;
  const v = Number(body);
  if (body === '' || !Number.isFinite(v)) throw new NoiseError(`${what} "${text}" is not a number; give a fraction such as 0.5 or a percentage such as 50%`);
  if (percent) {
    if (v < 0 || v > 100) throw new NoiseError(`${what} ${t} is outside 0-100%; give a percentage between 0% and 100%`);
    return v / 100;
  }
  if (v > 1 && v <= 100) throw new NoiseError(`${what} ${t} is outside [0, 1]; for ${v} percent write ${v}% (or ${v / 100})`);
  validateNoiseLevel(v, what);
  return v;
}

/** A comma-separated list of noise levels ("0,25%,0.5"), each parsed as above. */
export function parseNoiseLevels(text: string, what = '--noise'): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s === '')) throw new NoiseError(`${what} "${text}" must be comma-separated levels such as 0,25%,50%`);
  return parts.map((s) => parseNoiseLevel(s, what));
}

/**
 * Noisy labels at level p. Every example consumes exactly two draws (a coin and a class) whatever p
 * is, so with one seed the corrupt examples at a lower level are a subset of those at a higher one and
 * a corrupted example gets the same wrong label at every level.
 */
export function applyLabelNoise(labels: Int32Array, p: number, numClasses: number, rng: Rng): NoisyLabels {
  validateNoiseLevel(p);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new NoiseError(`label noise needs at least 2 classes, got ${numClasses}; check the dataset`);
  const original = Int32Array.from(labels);
  const noisy = new Int32Array(labels.length);
  const corrupt = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const coin = rng.uniform();
    const replacement = rng.int(numClasses);
    noisy[i] = coin < p ? replacement : original[i];
    corrupt[i] = noisy[i] !== original[i] ? 1 : 0;
  }
  return { labels: noisy, original, corrupt };
}

/** Number of corrupt examples. */
export function countCorrupt(noisy: NoisyLabels): number {
  let c = 0;
  for (let i = 0; i < noisy.corrupt.length; i++) c += noisy.corrupt[i];
  return c;
}

/** The expected corrupt fraction p(1 - 1/K). */
export function expectedCorruptFraction(p: number, numClasses: number): number {
  return p * (1 - 1 / numClasses);
}

/** The training examples whose labels the noise kept (pristine) and changed (corrupt), for evaluating each apart. */
export function noiseSubsets(noisy: NoisyLabels): { name: 'pristine' | 'corrupt'; indices: Int32Array }[] {
  const pristine: number[] = [], corrupt: number[] = [];
  for (let i = 0; i < noisy.corrupt.length; i++) (noisy.corrupt[i] ? corrupt : pristine).push(i);
  return [{ name: 'pristine', indices: Int32Array.from(pristine) }, { name: 'corrupt', indices: Int32Array.from(corrupt) }];
}

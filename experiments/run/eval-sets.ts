import type { Rng } from '../../engine/random.js';
import { DataError, featuresOf, selectSource, streamedSplit, type Split } from '../../engine/data/dataset.js';
import type { NoisyLabels } from './label-noise.js';

/**
 * The fixed evaluation sets of a run and the steps at which they are evaluated (browser-safe).
 *
 * Sets, as in the authors' code: up to N pristine and up to N corrupt training examples and a sample of
 * N training examples, all taken from one seeded permutation of the training set, plus the test set.
 * The paper used N = 50,000 of ImageNet's 1,281,167 training images (3.9%); the default here keeps that
 * ratio, with at least 1,000 examples (or the whole set when smaller).
 */

export const PAPER_SAMPLE = 50_000;
export const IMAGENET_TRAIN = 1_281_167;

export interface EvalSets {
  /** Indices into the training split, ascending. */
  trainSample: Int32Array;
  pristine: Int32Array;
  corrupt: Int32Array;
}

/** The default N for a training set of n examples. */
export function defaultSampleSize(n: number): number {
  return Math.min(n, Math.max(1000, Math.round((PAPER_SAMPLE * n) / IMAGENET_TRAIN)));
}

/** Draws the three training-set samples from one seeded permutation (the first N of each kind in permutation order). */
export function drawEvalSets(noisy: NoisyLabels, sampleSize: number, rng: Rng): EvalSets {
  if (!Number.isInteger(sampleSize) || sampleSize < 1) throw new DataError(`evaluation sample size ${sampleSize} must be a whole number of at least 1; use `
    + `e.g. --sample-size 1000`);
  const n = noisy.labels.length;
  const order = rng.permutation(n);
  const sample: number[] = [], pristine: number[] = [], corrupt: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (sample.length < sampleSize) sample.push(i);
    const into = noisy.corrupt[i] ? corrupt : pristine;
    if (into.length < sampleSize) into.push(i);
    if (sample.length >= sampleSize && pristine.length >= sampleSize && corrupt.length >= sampleSize) break;
  }
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { trainSample: sorted(sample), pristine: sorted(pristine), corrupt: sorted(corrupt) };
}

/** A seeded sample of `size` test examples (ascending), or all of them when size is undefined or not smaller. */
export function sampleIndices(n: number, size: number | undefined, rng: Rng): Int32Array {
  if (size === undefined || size >= n) return Int32Array.from({ length: n }, (_, i) => i);
  if (!Number.isInteger(size) || size < 1) throw new DataError(`sample size ${size} must be a whole number of at least 1`);
  return rng.permutation(n).subarray(0, size).slice().sort();
}

/**
 * A copy of the chosen examples, with `labels` (indexed like the split) instead of the split's own when given; of a
 * streamed split, a view that reads them on demand (50,000 ImageNet images are 30 GB as float32).
 */
export function gatherExamples(split: Split, indices: Int32Array, labels: Int32Array = split.labels): Split {
  if (split.source) {
    const bad = indices.find((i) => i < 0 || i >= split.n);
    if (bad !== undefined) throw new DataError(`example index ${bad} is outside the split of ${split.n}; the run's data does not match its selection`);
    return streamedSplit(selectSource(split.source, indices.slice()), Int32Array.from(indices, (i) => labels[i]));
  }
  const f = featuresOf(split);
  const images = new Float32Array(indices.length * f);
  const out = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (i < 0 || i >= split.n) throw new DataError(`example index ${i} is outside the split of ${split.n}; the run's data does not match its selection`);
    images.set(split.images.subarray(i * f, (i + 1) * f), k * f);
    out[k] = labels[i];
  }
  return { images, labels: out, n: indices.length };
}

/** Mean loss, accuracy and top-5 accuracy of the chosen examples from per-example values over the whole split. */
export function subsetMetrics(
  losses: Float32Array, correct: Uint8Array, correct5: Uint8Array, indices: Int32Array,
): { loss: number; acc: number; top5: number; n: number } {
  let l = 0, c = 0, c5 = 0;
  for (let k = 0; k < indices.length; k++) {
    l += losses[indices[k]];
    c += correct[indices[k]];
    c5 += correct5[indices[k]];
  }
  const n = indices.length;
  return { loss: n ? l / n : NaN, acc: n ? c / n : NaN, top5: n ? c5 / n : NaN, n };
}

/**
 * The evaluation schedule of the Coherent Gradients code, dense early and sparse late: every step
 * 0-9, every 10 to 90, every 100 to 900, and so on (steps d * 10^k), plus every epoch end.
 * Step s means "after s updates", so step 0 is before the first epoch.
 */
export function isScheduledStep(step: number, stepsPerEpoch: number, dense = true): boolean {
  if (step === 0 || step % stepsPerEpoch === 0) return true;
  if (!dense) return false;
  if (step < 10) return true;
  let unit = 1;
  while (unit * 10 <= step) unit *= 10;
  return step % unit === 0;
}

/** All scheduled steps from 0 to totalSteps inclusive. */
export function scheduledSteps(stepsPerEpoch: number, totalSteps: number, dense = true): number[] {
  const out: number[] = [];
  for (let s = 0; s <= totalSteps; s++) if (isScheduledStep(s, stepsPerEpoch, dense)) out.push(s);
  return out;
}

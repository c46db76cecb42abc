import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import type { RunData, RunResult } from './experiment-run.js';
import { validateNoiseLevel } from './label-noise.js';

/**
 * Label noise (Section 2, Figure 1, Appendix A): the same network trained with SGD at several noise
 * levels; curves of training and test accuracy, training loss, and pristine vs corrupt accuracy and loss.
 */
export interface LabelNoiseOptions {
  /** Noise levels as fractions (paper: 0, 0.25, 0.5, 0.75, 1). */
  noise: number[];
}

export const LABEL_NOISE_DEFAULTS: LabelNoiseOptions = { noise: [0, 0.25, 0.5, 0.75, 1] };

/** "noise-25" for 0.25. */
export function noiseRunName(p: number, prefix = ''): string {
  return `${prefix}noise-${+(p * 100).toFixed(2)}`;
}

/** The run data every training-set experiment shares: the training set and the test set. */
export function plainRunData(data: ExperimentData): RunData {
  return { train: data.train, numClasses: data.numClasses, inputShape: data.inputShape, evalSets: [{ name: 'test', split: data.test }] };
}

export async function labelNoiseExperiment(exp: Experiment, data: ExperimentData, o: LabelNoiseOptions): Promise<RunResult[]> {
  o.noise.forEach((p) => validateNoiseLevel(p));
  const runData = plainRunData(data);
  const out: RunResult[] = [];
  for (const p of o.noise) out.push(await exp.run(exp.config(noiseRunName(p), { noise: p }, runData), runData));
  return out;
}

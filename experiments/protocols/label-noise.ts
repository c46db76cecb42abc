import { labelNoiseSection } from '../report/label-noise.js';
import { defineProtocol, trainingSetRun } from './protocol.js';

import { parseNoise, percentList, validateNoise } from './option-flags.js';

/**
 * Label noise (Section 2, Figure 1, Appendix A): the same network trained with SGD at several noise
 * levels; curves of training and test accuracy, training loss, and pristine vs corrupt accuracy and loss.
 */
export interface LabelNoiseOptions {
  /** Noise levels as fractions (paper: 0, 0.25, 0.5, 0.75, 1). */
  noise: number[];
}

/** "noise-25" for 0.25. */
export function noiseRunName(p: number, prefix = ''): string {
  return `${prefix}noise-${+(p * 100).toFixed(2)}`;
}

export const labelNoise = defineProtocol<LabelNoiseOptions>({
  name: 'label-noise',
  summary: 'Label noise (Section 2, Figure 1): SGD at several noise levels; train/test, pristine/corrupt curves.',
  flags: [{ name: 'noise', type: 'string', default: '0,25%,50%,75%,100%', metavar: 'LEVELS', help: 'label-noise levels, fractions or percentages' }],
  parseFlags: (a) => ({ noise: parseNoise(a.noise) }),
  toFlags: (o) => ['--noise', percentList(o.noise)],
  validate: (o) => validateNoise(o.noise),
  plan: (spec) => spec.options.noise.map((p) => trainingSetRun(noiseRunName(p), { noise: p })),
  report: (e) => labelNoiseSection(e),
  reproduce: { settings: { epochs: 15 }, options: { noise: [0, 0.25, 0.5, 0.75, 1] }, notes: 'SGD, momentum 0.9, noise 0/25/50/75/100%, 15 epochs' },
});

import { ExperimentError } from '../run/grid-run.js';
import { winsorizeSection } from '../report/winsorize.js';
import { defineProtocol, trainingSetRun } from './protocol.js';
import { noiseRunName } from './label-noise.js';
import { medianRulePreset } from './suppression.js';
import { parseNoise, percentList, validateNoise } from './option-flags.js';

/**
 * Winsorization (Appendix B, Figure 8): per coordinate, every example's gradient is clipped between the
 * (s+1)-th smallest and largest of the batch before summing; s = 0, 2, 4 at 0% and 100% noise, batch 32.
 */
export interface WinsorizeOptions {
  levels: number[];
  noise: number[];
}

export const winsorize = defineProtocol<WinsorizeOptions>({
  name: 'winsorize',
  summary: 'Winsorized gradients (Appendix B, Figure 8): levels s at 0% and 100% noise, batch 32.',
  flags: [
    { name: 'levels', type: 'int-list', default: [0, 2, 4], min: 0, metavar: 'S,S,...', help: 'winsorization levels s (examples clipped per side of each '
      + 'coordinate)' },
    { name: 'noise', type: 'string', default: '0,100%', metavar: 'LEVELS', help: 'label-noise levels' },
  ],
  parseFlags: (a) => ({ levels: a.levels as number[], noise: parseNoise(a.noise) }),
  toFlags: (o) => ['--noise', percentList(o.noise), '--levels', o.levels.join(',')],
  validate: (o, settings) => {
    validateNoise(o.noise);
    const B = settings.batchSize;
    for (const s of o.levels) {
      if (!Number.isInteger(s) || s < 0 || 2 * s + 1 >= B) {
        const most = Math.floor((B - 2) / 2);
        throw new ExperimentError(`winsorization level ${s} does not fit a batch of ${B} (2s+1 must be below the batch); use --levels between 0 and ${most}`);
      }
    }
  },
  adjustPreset: (s, preset) => {
    medianRulePreset(s, preset);
    s.batchSize = 32;
    if (preset === 'paper') {
      Object.assign(s, { dataset: 'cifar10', model: 'resnet32', schedule: 'constant', milestones: [26, 38, 51], epochs: 64, sampleSize: 10_000,
        records: 'all' });
    }
  },
  plan: (spec) => spec.options.noise.flatMap((p) => spec.options.levels.map((s) => trainingSetRun(noiseRunName(p, `s${s}-`), { rule: 'winsorize', winsor: s,
    noise: p }))),
  report: (e) => winsorizeSection(e),
  reproduce: [
    {
      // s = 0 memorises 100% noise to 99% by epoch 75 (62% at 25 epochs); s = 2 reaches about 60%, s = 4 about 30%.
      settings: { epochs: 80, batchSize: 32, momentum: 0, records: 'off' },
      options: { levels: [0, 2, 4], noise: [0, 1] },
      notes: 's = 0, 2, 4, batch 32, momentum 0, noise 0/100%, 80 epochs',
    },
    {
      // The Coherent Gradients paper's (ICLR 2020) MNIST test, where the effect showed only with label noise: with B = 100,
      // clipping at percentile c per side is c examples per side. c = 0 memorises the corrupt labels (100% by epoch 50);
      // see experiments/verdicts/premise-settings.md. One seed: the 3x256 net's per-example gradients cost about 2 s an epoch.
      folder: 'winsorize-iclr',
      settings: { epochs: 60, batchSize: 100, hidden: [256, 256, 256], init: 'glorot-cg', momentum: 0, records: 'off' },
      options: { levels: [0, 1, 2, 4], noise: [0.5] },
      notes: `the ICLR 2020 MNIST test: mlp 256,256,256 with its initialisation, lr 0.1, batch 100,
                    momentum 0, c = 0, 1, 2, 4 per side, 50% noise, 60 epochs, one seed`,
    },
  ],
});

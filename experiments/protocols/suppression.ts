import { RULES, type RuleName } from '../rules/index.js';
import { ExperimentError } from '../run/grid-run.js';
import type { TrainSettings } from '../run/grid-run.js';
import { suppressionSection } from '../report/suppression.js';
import { defineProtocol, seededRuns } from './protocol.js';
import type { PhaseEpochs, PresetName } from './presets.js';
import { noiseRunName } from './label-noise.js';
import { parseNoise, percentList, SEEDS_FLAG, validateNoise, validateSeeds } from './option-flags.js';

/**
 * Suppressing weak gradient directions (Section 3.3, Figures 2 and 3): SGD, RA3, RM3 and M3 at several
 * noise levels, with no momentum (the paper's setting). M3 is the paper's: one mini-batch split into 3
 * groups, the update the coordinate-wise median of the groups' mean gradients, computed in one pass.
 * As in the paper (264 = 3 x 88 for a batch of 256), M3's batch is the batch size rounded up to a
 * multiple of 3 when it is not one already.
 */
export interface SuppressionOptions {
  rules: RuleName[];
  noise: number[];
  /** Runs per rule and noise level, on consecutive seeds. */
  seeds?: number;
}

export function validateSuppressionRules(rules: string[]): RuleName[] {
  const allowed = RULES.filter((r) => r.suppresses).map((r) => r.name);
  for (const r of rules) {
    if (!(allowed as readonly string[]).includes(r)) {
      throw new ExperimentError(`unknown rule "${r}" for the suppression experiment; use --rules with ${allowed.join(',')}`);
    }
  }
  if (rules.length === 0) throw new ExperimentError('--rules is empty; give e.g. --rules sgd,ra3,rm3,m3');
  return rules as RuleName[];
}

export function m3BatchSize(batchSize: number): number {
  return Math.ceil(batchSize / 3) * 3;
}

/** The median rules run without momentum, and the small presets need more epochs to memorise without it. */
export function medianRulePreset(s: TrainSettings & PhaseEpochs, preset: PresetName): void {
  s.momentum = 0;
  if (preset !== 'paper' && preset !== 'tiny') s.epochs = Math.round(s.epochs * 1.5);
}

export const suppression = defineProtocol<SuppressionOptions>({
  name: 'suppression',
  summary: 'Suppressing weak gradient directions (Section 3.3, Figures 2-3): SGD, RA3, RM3, M3 at several noise levels.',
  flags: [
    { name: 'rules', type: 'string', default: 'sgd,ra3,rm3,m3', metavar: 'RULES', help: 'gradient rules to compare (sgd, ra3, rm3, m3)' },
    { name: 'noise', type: 'string', default: '0,50%,100%', metavar: 'LEVELS', help: 'label-noise levels' },
    SEEDS_FLAG,
  ],
  parseFlags: (a) => ({ rules: String(a.rules).split(',').map((r) => r.trim()) as RuleName[], noise: parseNoise(a.noise), seeds: Number(a.seeds ?? 1) }),
  toFlags: (o) => ['--noise', percentList(o.noise), '--rules', o.rules.join(','), ...(o.seeds ? ['--seeds', String(o.seeds)] : [])],
  validate: (o) => {
    validateSuppressionRules(o.rules);
    validateNoise(o.noise);
    if (o.seeds !== undefined) validateSeeds(o.seeds);
  },
  adjustPreset: medianRulePreset,
  plan: (spec) => spec.options.noise.flatMap((p) => spec.options.rules.map((rule) => {
    const batchSize = rule === 'm3' ? m3BatchSize(spec.settings.batchSize) : spec.settings.batchSize;
    return seededRuns(noiseRunName(p, `${rule}-`), { rule, groups: 3, noise: p, batchSize }, spec.options.seeds ?? 1, spec.settings);
  }).flat()),
  report: (e) => suppressionSection(e),
  reproduce: {
    // 60 epochs of 20 steps: SGD memorises 97% of the corrupt examples (90% by epoch 38), RM3 is 11 epochs behind.
    settings: { epochs: 60, batchSize: 25, momentum: 0, trainSize: 500, records: 'off' },
    options: { rules: ['sgd', 'ra3', 'rm3', 'm3'], noise: [0, 0.5, 1], seeds: 3 },
    notes: 'SGD, RA3, RM3, M3 (batch 25; M3 27 = 3 x 9), momentum 0, the first 500 images,\n'
      + '                    noise 0/50/100%, 60 epochs, 3 seeds',
  },
});

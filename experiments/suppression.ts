import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import type { RunResult } from './experiment-run.js';
import { validateNoiseLevel } from './label-noise.js';
import { noiseRunName, plainRunData } from './label-noise-experiment.js';
import { RULE_NAMES, type RuleName } from './rules/index.js';
import { ExperimentError } from './experiment-run.js';

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
}

export const SUPPRESSION_DEFAULTS: SuppressionOptions = { rules: ['sgd', 'ra3', 'rm3', 'm3'], noise: [0, 0.5, 1] };

export function validateSuppressionRules(rules: string[]): RuleName[] {
  const allowed = RULE_NAMES.filter((r) => r !== 'winsorize');
  for (const r of rules) {
    if (!(allowed as readonly string[]).includes(r)) throw new ExperimentError(`unknown rule "${r}" for the suppression experiment; use --rules with ${allowed.join(',')}`);
  }
  if (rules.length === 0) throw new ExperimentError('--rules is empty; give e.g. --rules sgd,ra3,rm3,m3');
  return rules as RuleName[];
}

export function m3BatchSize(batchSize: number): number {
  return Math.ceil(batchSize / 3) * 3;
}

export async function suppressionExperiment(exp: Experiment, data: ExperimentData, o: SuppressionOptions): Promise<RunResult[]> {
  validateSuppressionRules(o.rules);
  o.noise.forEach((p) => validateNoiseLevel(p));
  const runData = plainRunData(data);
  const out: RunResult[] = [];
  for (const p of o.noise) {
    for (const rule of o.rules) {
      const batchSize = rule === 'm3' ? m3BatchSize(exp.spec.settings.batchSize) : exp.spec.settings.batchSize;
      out.push(await exp.run(exp.config(noiseRunName(p, `${rule}-`), { rule, groups: 3, noise: p, batchSize }, runData), runData));
    }
  }
  return out;
}

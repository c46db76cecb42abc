import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import { ExperimentError, readFinalWeights, type RunData, type RunResult } from './experiment-run.js';
import { plainRunData } from './label-noise-experiment.js';

/**
 * Anti-adversarial initialisation (Section 2): train on the clean labels until the training accuracy
 * reaches a target (paper: 100%); then train on 100%-noise labels once from those weights and once from a
 * random initialisation, each until 90% training accuracy (paper: 62 vs 81 epochs on ImageNet). Both noisy
 * runs use the same noisy labels and batch order; only the starting weights differ.
 */
export interface AntiAdversarialOptions {
  /** Training accuracy the clean pre-training must reach. */
  target: number;
  /** Training accuracy (on the noisy labels) whose epoch count is compared. */
  goal: number;
}

export const ANTI_ADVERSARIAL_DEFAULTS: AntiAdversarialOptions = { target: 1, goal: 0.9 };

export interface AntiAdversarialResult {
  pretrain: RunResult;
  fromPretrained: RunResult;
  fromScratch: RunResult;
}

export function validateAccuracyTarget(v: number, what: string): void {
  if (!Number.isFinite(v) || v <= 0 || v > 1) throw new ExperimentError(`${what} ${v} must be a training accuracy in (0, 1] (e.g. 0.9 for 90%)`);
}

export async function antiAdversarialExperiment(exp: Experiment, data: ExperimentData, o: AntiAdversarialOptions, budget: number): Promise<AntiAdversarialResult> {
  validateAccuracyTarget(o.target, '--target');
  validateAccuracyTarget(o.goal, '--goal');
  const clean = plainRunData(data);
  const pretrain = await exp.run(exp.config('pretrain', { epochs: budget, records: 'all', stopAt: { set: 'train', acc: o.target } }, clean), clean);
  if (pretrain.summary.status !== 'stopped') {
    const best = Math.max(0, ...pretrain.rows.filter((r) => r.kind === 'eval' && r.set === 'train').map((r) => (r as { acc: number }).acc));
    throw new ExperimentError(`the clean pre-training ${pretrain.dir} reached ${(best * 100).toFixed(1)}% training accuracy in ${budget} epochs, short of --target ${o.target}; raise --anti-epochs (with another --out) or lower --target`);
  }
  const noisy = (name: string, extra: Partial<RunData>, initFrom?: string) => {
    const runData: RunData = { ...clean, ...extra };
    return exp.run(exp.config(name, { noise: 1, epochs: budget, records: 'all', stopAt: { set: 'train', acc: o.goal }, initFrom }, runData), runData);
  };
  const fromPretrained = await noisy('noisy-from-pretrained', { initWeights: readFinalWeights(pretrain.dir) }, 'pretrain');
  const fromScratch = await noisy('noisy-from-scratch', {});
  return { pretrain, fromPretrained, fromScratch };
}

import type { RuleName } from '../rules/index.js';
import type { ScheduleOptions } from './schedule.js';

/**
 * The settings of a training run, in one place: what every run reads (the model, the optimizer and its
 * schedule, the gradient rule, the seeds and label noise). cgh train's flags, the page's form and an
 * experiment's run config are each this plus what only they have; each is checked once, where it comes in.
 */
export interface ModelSettings {
  model: string;
  /** Hidden widths of the mlp. */
  hidden: number[];
  /** Width multiplier of the model's channels (and of the mlp's hidden widths); default 1. */
  width?: number;
  init: 'pytorch' | 'glorot-cg';
}

export interface OptimizerSettings extends ScheduleOptions {
  batchSize: number;
  evalBatchSize: number;
  momentum: number;
  weightDecay: number;
}

export interface RuleSettings {
  rule: RuleName;
  groups: number;
  winsor?: number;
  m3Mode?: 'one-pass' | 'serial';
}

export interface RunSettings extends ModelSettings, OptimizerSettings, RuleSettings {
  /** Seed of the initialisation and the batch order. */
  seed: number;
  /** Seed of the label noise and the evaluation samples (default: seed). */
  dataSeed?: number;
  /** Label-noise level p in [0, 1] (0 or undefined: the dataset's labels). */
  noise?: number;
}

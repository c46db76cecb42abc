import type { GradientTransform } from '../../engine/optim.js';

/** The gradient rules: how a batch's gradient is combined before the SGD update. */
export type RuleName = 'sgd' | 'ra3' | 'rm3' | 'm3' | 'winsorize';

/** The settings every rule reads (each uses the ones it needs). */
export interface RuleOptions {
  rule: RuleName;
  /** M3's number of groups K (default 3). */
  groups: number;
  /** Winsorization: examples clipped on each side of every coordinate. */
  winsor: number;
  m3Mode: 'one-pass' | 'serial';
  /** The mini-batch (for serial M3, the K micro-batches together). */
  batchSize: number;
  momentum: number;
}

/** A bad rule option; the message is one line naming the valid range. */
export class RuleError extends Error {
  override name = 'RuleError';
}

/**
 * One gradient rule: everything the CLI, the page form, the settings checks and the checkpoints read about it.
 * rules/index.ts lists them; adding a rule is its file with one of these and one line there.
 */
export interface GradientRule {
  readonly name: RuleName;
  /** Its paragraph of cgh train --help (lines indented to the column after the name). */
  readonly help: string;
  /** The options besides the batch and momentum that it reads, which the CLI and the page ask for with it. */
  readonly options: readonly ('groups' | 'winsor' | 'm3Mode')[];
  /** Suffixes of its state tensors in a checkpoint (`<parameter>.<suffix>`); loading weights into a model skips them. */
  readonly stateSuffixes: readonly string[];
  /** Whether it is a median-family rule the suppression experiment compares (it needs no option of its own there). */
  readonly suppresses: boolean;
  /** One-line RuleError for options it cannot run with. */
  validate(o: RuleOptions): void;
  create(o: RuleOptions): GradientTransform;
  /** The batch the trainer is built with (serial M3: the micro-batch). Default: the batch. */
  trainerBatchSize?(o: RuleOptions): number;
  /** Trainer steps per weight update (serial M3: K). Default 1. */
  stepsPerUpdate?(o: RuleOptions): number;
  /** Settings that run but that the authors advise against. */
  warnings?(o: RuleOptions): string[];
}

/** The authors found momentum unstable with the median-family rules. */
export function momentumWarning(o: RuleOptions): string[] {
  return o.momentum !== 0 ? [`momentum ${o.momentum} with ${o.rule}: the authors found momentum unstable with these rules and ran them with momentum 0`] : [];
}

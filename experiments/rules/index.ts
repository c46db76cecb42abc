import { GradientTransform, SumGroups } from '../../engine/optim.js';
import { Rolling3 } from './rolling.js';
import { OnePassM3, MAX_GROUPS } from './m3.js';
import { SerialM3 } from './serial-m3.js';
import { Winsorize, MAX_WINSOR } from './winsorize.js';

export { createCoherenceProbe, CoherenceProbe } from './coherence.js';
export type { CoherenceReading } from './coherence.js';
export { MAX_GROUPS, MAX_WINSOR };

/** The gradient rules: how a batch's gradient is combined before the SGD update. */
export type RuleName = 'sgd' | 'ra3' | 'rm3' | 'm3' | 'winsorize';
export const RULE_NAMES: readonly RuleName[] = ['sgd', 'ra3', 'rm3', 'm3', 'winsorize'];

export interface RuleOptions {
  rule: RuleName;
  /** --groups K: M3's number of groups (default 3). */
  groups: number;
  /** --winsor S: examples clipped on each side of every coordinate. */
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

export function validateRuleOptions(o: RuleOptions): void {
  if (!RULE_NAMES.includes(o.rule)) throw new RuleError(`unknown rule '${o.rule}': use one of ${RULE_NAMES.join(', ')}`);
  const B = o.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RuleError(`the batch size must be a positive integer, got ${B}`);
  if (o.rule === 'm3') {
    const K = o.groups;
    if (!Number.isInteger(K) || K < 1 || K > MAX_GROUPS || B % K !== 0) {
      const divisors = [];
      for (let d = 1; d <= Math.min(B, MAX_GROUPS); d++) if (B % d === 0) divisors.push(d);
      throw new RuleError(`--groups ${K} does not split the batch of ${B} into equal groups: use a divisor of ${B} in 1..${MAX_GROUPS} (${divisors.join(', ')})`);
    }
    if (o.m3Mode !== 'one-pass' && o.m3Mode !== 'serial') throw new RuleError(`unknown M3 mode '${o.m3Mode}': use one-pass or serial`);
    if (o.m3Mode === 'serial' && o.momentum !== 0) {
      throw new RuleError(`serial M3 needs --momentum 0 (got ${o.momentum}): the weights must not move between its micro-batches; use --m3-mode one-pass for momentum`);
    }
  }
  if (o.rule === 'winsorize') {
    const s = o.winsor;
    const most = Math.min(MAX_WINSOR, Math.floor((B - 2) / 2));
    if (!Number.isInteger(s) || s < 0 || 2 * s + 1 >= B || s > MAX_WINSOR) {
      throw new RuleError(most < 0
        ? `--winsor needs a batch of at least 2, got ${B}`
        : `--winsor ${s} is out of range for a batch of ${B} (2s+1 must be below the batch, s at most ${MAX_WINSOR}): use 0..${most}`);
    }
  }
}

/** The gradient transform for the trainer (validates first). */
export function createRule(o: RuleOptions): GradientTransform {
  validateRuleOptions(o);
  switch (o.rule) {
    case 'sgd': return new SumGroups(1);
    case 'ra3': return new Rolling3('mean');
    case 'rm3': return new Rolling3('median');
    case 'm3': return o.m3Mode === 'serial' ? new SerialM3(o.groups) : new OnePassM3(o.groups);
    case 'winsorize': return new Winsorize(o.winsor, o.batchSize);
  }
}

/**
 * The batch size the Trainer must be built with: the micro-batch (batch / K) for serial M3, which takes
 * K trainer steps per update; the batch itself for every other rule.
 */
export function trainerBatchSize(o: RuleOptions): number {
  return o.rule === 'm3' && o.m3Mode === 'serial' ? o.batchSize / o.groups : o.batchSize;
}

/** Trainer steps per weight update: K for serial M3, 1 otherwise. */
export function stepsPerUpdate(o: RuleOptions): number {
  return o.rule === 'm3' && o.m3Mode === 'serial' ? o.groups : 1;
}

export function ruleWarnings(o: RuleOptions): string[] {
  const w: string[] = [];
  if (o.momentum !== 0 && (o.rule === 'ra3' || o.rule === 'rm3' || o.rule === 'm3')) {
    w.push(`momentum ${o.momentum} with ${o.rule}: the authors found momentum unstable with these rules and ran them with momentum 0`);
  }
  if (o.rule === 'm3' && o.groups === 1) w.push('m3 with --groups 1 is plain SGD');
  if (o.rule === 'm3' && o.groups === 2) w.push('m3 with --groups 2 is plain SGD (the median of two is their mean)');
  return w;
}

export const RULE_HELP = `Gradient rules (--rule), applied between the backward pass and the SGD update; momentum,
weight decay and the learning-rate schedule apply to the combined gradient as usual.
  sgd        the mean gradient of the batch.
  ra3        rolling average of 3: the mean of this step's gradient and the previous two steps'.
  rm3        rolling median of 3: their coordinate-wise median (the middle value).
             RA3/RM3 follow the authors' code: the ring of gradients starts as three copies of the
             first one and no update is made until three gradients exist, so steps 0 and 1 leave the
             weights unchanged; weight decay is added to each gradient before it is buffered.
  m3         median of means, as the paper describes it: the batch is split into K equal groups
             (--groups K, default 3, must divide the batch) and the update is the coordinate-wise
             median of the groups' mean gradients (K even: the mean of the two middle values).
             --m3-mode one-pass (default) does this in one forward/backward pass, the weight-gradient
             kernels reducing each group separately, with batch norm normalising each group on its own
             statistics; --m3-mode serial runs the K micro-batches of batch/K as K steps, updating on the
             last (needs momentum 0). Weight decay shifts every group equally, so it enters the median
             unchanged. The authors' code differs: it takes the median of 3 consecutive full mini-batches,
             one update per 3 batches.
  winsorize  the paper's Appendix B: in every coordinate each example's gradient is clipped to lie
             between the (s+1)-th smallest and (s+1)-th largest of the batch's (--winsor s, 2s+1 below
             the batch) and the clipped values are summed. Per-example gradients are of the mean loss, so
             the sum is the winsorized mean of the examples' gradients and s = 0 is SGD; with batch norm
             they are each example's term of the whole-batch gradient (statistics of the whole batch).
             Weight decay is added after winsorizing.
The authors found momentum unstable with ra3, rm3 and m3 and used momentum 0 with them.`;

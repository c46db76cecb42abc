import type { GradientTransform } from '../../engine/optim.js';
import { RuleError, type GradientRule, type RuleName, type RuleOptions } from './rule.js';
import { sgdRule } from './sgd.js';
import { ra3Rule, rm3Rule } from './rolling.js';
import { m3Rule, MAX_GROUPS } from './m3.js';
import { winsorizeRule, MAX_WINSOR } from './winsorize.js';

export { createCoherenceProbe, CoherenceProbe } from './coherence.js';
export type { CoherenceReading } from './coherence.js';
export { MAX_GROUPS, MAX_WINSOR, RuleError };
export type { GradientRule, RuleName, RuleOptions };

/**
 * Every gradient rule, as one object each: cgh train's --rule choices and help, the page's form, the settings
 * checks and the checkpoint's state names all read this list. Adding a rule: its file and one line here.
 */
export const RULES: readonly GradientRule[] = [sgdRule, ra3Rule, rm3Rule, m3Rule, winsorizeRule];
export const RULE_NAMES: readonly RuleName[] = RULES.map((r) => r.name);

export function ruleNamed(name: string): GradientRule {
  const r = RULES.find((x) => x.name === name);
  if (!r) throw new RuleError(`unknown rule '${name}': use one of ${RULE_NAMES.join(', ')}`);
  return r;
}

export function validateRuleOptions(o: RuleOptions): void {
  const rule = ruleNamed(o.rule);
  const B = o.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RuleError(`the batch size must be a positive integer, got ${B}`);
  rule.validate(o);
}

/** The gradient transform for the trainer (validates first). */
export function createRule(o: RuleOptions): GradientTransform {
  validateRuleOptions(o);
  return ruleNamed(o.rule).create(o);
}

/** The batch size the Trainer must be built with: the micro-batch for serial M3, the batch itself for every other rule. */
export function trainerBatchSize(o: RuleOptions): number {
  return ruleNamed(o.rule).trainerBatchSize?.(o) ?? o.batchSize;
}

/** Trainer steps per weight update: K for serial M3, 1 otherwise. */
export function stepsPerUpdate(o: RuleOptions): number {
  return ruleNamed(o.rule).stepsPerUpdate?.(o) ?? 1;
}

export function ruleWarnings(o: RuleOptions): string[] {
  return ruleNamed(o.rule).warnings?.(o) ?? [];
}

/** Names of rule state in a checkpoint, which loading weights into a model skips. */
export const RULE_STATE_NAMES: readonly RegExp[] = RULES.flatMap((r) => r.stateSuffixes.map((s) => new RegExp(`\\.${s}$`)));

const indent = (text: string) => text.split('\n').join('\n' + ' '.repeat(13));

export const RULE_HELP = `Gradient rules (--rule), applied between the backward pass and the SGD update; momentum,
weight decay and the learning-rate schedule apply to the combined gradient as usual.
${RULES.map((r) => `  ${r.name.padEnd(11)}${indent(r.help)}`).join('\n')}
The authors found momentum unstable with ra3, rm3 and m3 and used momentum 0 with them.`;

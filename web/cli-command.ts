// The cgh train command that repeats the page's run (same settings and seed give the same numbers).
import type { PageConfig } from './session.js';
import { ruleNamed } from '../experiments/rules/index.js';

/** The command line, or why there is none (cgh train does not add label noise). */
export function trainCommandLine(c: PageConfig): { line: string } | { why: string } {
  if (c.noise && c.noise > 0) return { why: 'cgh train does not add label noise; the label-noise experiment (cgh experiment) does, with its own seeding' };
  const flags: (string | number)[] = ['cgh', 'train', '--model', c.model];
  if (c.model === 'mlp') flags.push('--hidden', c.hidden.join(','));
  if (c.width !== undefined && c.width !== 1) flags.push('--width', c.width);
  if (c.init !== 'pytorch') flags.push('--init', c.init);
  if (c.dataset !== 'mnist') flags.push('--data-dir', 'DIR');
  if (c.trainSubset !== undefined) flags.push('--train-subset', c.trainSubset);
  if (c.testSubset !== undefined) flags.push('--test-subset', c.testSubset);
  flags.push('--epochs', c.epochs, '--batch-size', c.batchSize, '--lr', c.lr);
  if (c.schedule !== 'constant') flags.push('--schedule', c.schedule);
  if (c.schedule === 'step') flags.push('--step-size', c.stepSize);
  if (c.momentum !== 0) flags.push('--momentum', c.momentum);
  if (c.weightDecay !== 0) flags.push('--weight-decay', c.weightDecay);
  if (c.rule !== 'sgd') flags.push('--rule', c.rule);
  const own = ruleNamed(c.rule).options;
  if (own.includes('groups')) flags.push('--groups', c.groups);
  if (own.includes('m3Mode')) flags.push('--m3-mode', c.m3Mode ?? 'one-pass');
  if (own.includes('winsor')) flags.push('--winsor', c.winsor ?? 0);
  flags.push('--seed', c.seed);
  const line = flags.join(' ');
  return { line: c.dataset !== 'mnist' ? `${line}   (DIR: a folder holding ${c.dataFiles?.join(', ')}, named as MNIST's files)` : line };
}

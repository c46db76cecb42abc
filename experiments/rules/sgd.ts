import { SumGroups } from '../../engine/optim.js';
import type { GradientRule } from './rule.js';

export const sgdRule: GradientRule = {
  name: 'sgd',
  help: 'the mean gradient of the batch.',
  options: [],
  stateSuffixes: [],
  suppresses: true,
  validate: () => {},
  create: () => new SumGroups(1),
};

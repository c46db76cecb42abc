// The flags of a run's settings, shared by cgh train's command line and the page's "same run from the command line"
// (browser-safe). Each is cli/args.ts's FlagSpec with, for writing a command back: `always` (written even at its
// default) and `when` (written only for settings it applies to).
import { RULE_NAMES, ruleNamed } from '../rules/index.js';
import { SCHEDULES } from './schedule.js';
import { modelNames } from '../../models/registry.js';

type Settings = Record<string, unknown>;

function usesOption(s: Settings, option: 'groups' | 'winsor' | 'm3Mode'): boolean {
  return ruleNamed(String(s.rule)).options.includes(option);
}

export const MODEL_FLAGS = [
  { name: 'model', always: true, type: 'string', default: 'mlp', metavar: 'NAME', known: modelNames, help: 'model to train; cgh models lists them' },
  { name: 'hidden', always: true, when: (s: Settings) => s.model === 'mlp', type: 'int-list', default: [1024, 1024], min: 1,
    help: 'hidden layer widths of the mlp' },
  { name: 'width', type: 'number', min: 0, exclusiveMin: true, default: 1, metavar: 'W', help: 'width multiplier of the model\'s channels (and of the '
    + 'mlp\'s hidden widths)' },
  { name: 'init', type: 'choice', choices: ['pytorch', 'glorot-cg'], default: 'pytorch', help: 'weight init: PyTorch\'s nn.Linear default, or '
    + 'N(0,1)*2/sqrt(fan_in+fan_out) with zero biases as in the original Coherent Gradients code' },
] as const;

export const TRAINING_FLAGS = [
  { name: 'train-subset', type: 'int', min: 1, metavar: 'N', help: 'train on the first N training examples only (default: all)' },
  { name: 'test-subset', type: 'int', min: 1, metavar: 'N', help: 'evaluate on the first N test examples only (default: all)' },
  { name: 'epochs', always: true, type: 'int', min: 1, default: 10, help: 'epochs to train' },
  { name: 'batch-size', always: true, type: 'int', min: 1, default: 128, help: 'examples per step (the last partial batch of an epoch is dropped)' },
  { name: 'eval-batch-size', type: 'int', min: 1, default: 1000, help: 'examples per evaluation pass' },
  { name: 'lr', always: true, type: 'number', min: 0, exclusiveMin: true, default: 0.1, help: 'learning rate (the schedule\'s initial value)' },
  { name: 'schedule', type: 'choice', choices: SCHEDULES, default: 'constant', help: 'lr schedule, stepped per epoch: constant; step = divide by 10 every '
    + '--step-size epochs (StepLR); cosine = CosineAnnealingLR over --epochs' },
  { name: 'step-size', always: true, when: (s: Settings) => s.schedule === 'step', type: 'int', min: 1, default: 30, help: 'epochs between lr divisions of '
    + 'the step schedule' },
  { name: 'momentum', type: 'number', min: 0, default: 0, help: 'SGD momentum (PyTorch\'s form, no dampening)' },
  { name: 'weight-decay', type: 'number', min: 0, default: 0, help: 'L2 weight decay added to the gradient' },
  { name: 'rule', type: 'choice', choices: RULE_NAMES, default: 'sgd', help: 'gradient rule applied between backward and update (see below)' },
  { name: 'groups', always: true, when: (s: Settings) => usesOption(s, 'groups'), type: 'int', min: 1, default: 3, metavar: 'K', help: 'groups K of --rule '
    + 'm3: the median of K group-mean gradients (K must divide the '
    + 'batch)' },
  { name: 'winsor', always: true, when: (s: Settings) => usesOption(s, 'winsor'), type: 'int', min: 0, metavar: 'S', help: 'examples clipped on each side '
    + 'of every coordinate by --rule winsorize (required with it)' },
  { name: 'm3-mode', always: true, when: (s: Settings) => usesOption(s, 'm3Mode'), type: 'choice', choices: ['one-pass', 'serial'], default: 'one-pass',
    help: 'how --rule m3 computes its micro-batch gradients' },
] as const;

export const SEED_FLAGS = [
  { name: 'seed', always: true, type: 'int', min: 0, default: 0, help: 'seed of all randomness (init, batch order, label noise)' },
  { name: 'label-noise', key: 'noise', type: 'number', min: 0, default: 0, metavar: 'P', help: 'replace each training label with probability P (0 to 1) by a '
    + 'uniformly drawn class, as the paper does; epoch rows then also hold the loss and accuracy of the pristine and the corrupt examples' },
] as const;

interface WritableFlag {
  readonly name: string;
  /** The settings key, where it is not the camel-cased name. */
  readonly key?: string;
  readonly default?: unknown;
  readonly always?: boolean;
  when?(s: Settings): boolean;
}

/** The flags that give `settings` back, in the flag tables' order (camelCase keys, as in config.json). */
export function settingsFlags(settings: Settings, flags: readonly WritableFlag[] = [...MODEL_FLAGS, ...TRAINING_FLAGS, ...SEED_FLAGS]): string[] {
  const out: string[] = [];
  for (const f of flags) {
    const key = f.key ?? f.name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const value = settings[key] ?? (f.always ? f.default : undefined);
    if (value === undefined || (f.when && !f.when(settings))) continue;
    if (!f.always && JSON.stringify(value) === JSON.stringify(f.default)) continue;
    out.push(`--${f.name}`, Array.isArray(value) ? value.join(',') : String(value));
  }
  return out;
}

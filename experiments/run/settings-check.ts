// The one check of a run's settings that cgh train's flags and the page's form both go through, before anything is
// loaded or written: ranges beyond a flag's type (momentum below 1, an epoch count a person could wait for), an mlp
// with at least one hidden layer, and the sizes against the dataset when they are known (MNIST's before any download).
// Messages name the settings as flags (--epochs); the page shows them as words. Browser-safe.

/** A setting out of range; the message is one line naming the setting and the fix. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

export interface CheckedSettings {
  model: string;
  hidden: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  noise?: number;
  trainSubset?: number;
  testSubset?: number;
}

/** The sizes of the known datasets, so that subsets can be checked before a download. */
export const DATASET_SIZES: Record<string, { train: number; test: number }> = {
  mnist: { train: 60000, test: 10000 },
  cifar10: { train: 50000, test: 10000 },
};

const MAX_EPOCHS = 100_000;
/** Above this a learning rate is almost surely a typo; it is only warned about, since divergence itself is a thing to study. */
const HIGH_LR = 10;

export function checkRunSettings(s: CheckedSettings, sizes?: { train: number; test: number }): void {
  const fail = (m: string) => { throw new SettingsError(m); };
  if (s.model === 'mlp' && s.hidden.length === 0) fail('--hidden is empty, which would train a linear model; give at least one width, such as 256');
  if (s.epochs > MAX_EPOCHS) fail(`--epochs ${s.epochs} is more than ${MAX_EPOCHS.toLocaleString('en-US')}; give a number of epochs you can wait for`);
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) fail(`--lr ${s.lr} is not a positive number; a learning rate such as 0.1 or 0.01 is usual`);
  if (!(s.momentum >= 0 && s.momentum < 1)) fail(`--momentum ${s.momentum} is outside [0, 1): momentum 1 or more never forgets a gradient; use e.g. 0.9`);
  if (!(s.weightDecay >= 0 && s.weightDecay < 1)) fail(`--weight-decay ${s.weightDecay} is outside [0, 1); use e.g. 0.0005`);
  if (!Number.isSafeInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) fail(`--seed ${s.seed} is outside 0 to 4294967295; give a whole number in it`);
  if (s.noise !== undefined && !(s.noise >= 0 && s.noise <= 1)) fail(`--label-noise ${s.noise} is outside [0, 1]; give a fraction such as 0.5`);
  if (!sizes) return;
  if (s.trainSubset !== undefined && s.trainSubset > sizes.train) {
    fail(`--train-subset ${s.trainSubset} is larger than the ${sizes.train} training examples; use ${sizes.train} or less`);
  }
  if (s.testSubset !== undefined && s.testSubset > sizes.test) {
    fail(`--test-subset ${s.testSubset} is larger than the ${sizes.test} test examples; use ${sizes.test} or less`);
  }
  const n = s.trainSubset ?? sizes.train;
  if (s.batchSize > n) fail(`--batch-size ${s.batchSize} is larger than the ${n} training examples; use ${n} or less`);
}

/** Settings that can run but are probably not meant: shown beside the form, printed as warnings by cgh train. */
export function settingsWarnings(s: Pick<CheckedSettings, 'lr'>): string[] {
  return s.lr > HIGH_LR ? [`--lr ${s.lr} is far above the usual 0.001 to 1; expect the loss to diverge (NaN) or the network to stop learning`] : [];
}

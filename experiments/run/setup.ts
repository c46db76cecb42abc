import { Rng } from '../../engine/random.js';
import { Trainer } from '../../engine/trainer.js';
import type { Gpu } from '../../engine/gpu.js';
import { BatchIterator, DataError, subset, type Dataset, type Split } from '../../engine/data/dataset.js';
import type { Model } from '../../models/model.js';
import { createModel } from '../../models/registry.js';
import { createRule, RULE_STATE_NAMES, stepsPerUpdate, trainerBatchSize, type RuleName } from '../rules/index.js';
import { applyLabelNoise, type NoisyLabels } from './label-noise.js';

/**
 * Building one training run from its settings (browser-safe): the training subset, the seeded
 * generators, label noise, the model, the gradient rule, the trainer and the batch order.
 *
 * The seeding scheme is cgh train's, so that a run with the same settings gives the same results
 * wherever it runs: master = Rng(seed); the model's initialisation draws from master's first fork,
 * the batch order from its second; label noise (when asked for) from its third, and the fixed
 * evaluation samples from its fourth. Forks are taken whether or not they are used, so that adding
 * noise or evaluation samples never changes the initialisation or the batch order.
 */
/** Checkpoint tensors that are not the model's: a gradient rule's state and the per-example records. */
export const NOT_MODEL_STATE: readonly RegExp[] = [...RULE_STATE_NAMES, /^records\./];

export interface RunSettings {
  model: string;
  /** Hidden widths of the mlp. */
  hidden: number[];
  /** Width multiplier of the model's channels (and of the mlp's hidden widths); default 1. */
  width?: number;
  init: 'pytorch' | 'glorot-cg';
  /** Train on the first N training examples (all when undefined). */
  trainSubset?: number;
  /** Evaluate on the first N test examples (all when undefined). */
  testSubset?: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  rule: RuleName;
  groups: number;
  winsor?: number;
  m3Mode: 'one-pass' | 'serial';
  seed: number;
  /** Label-noise level p in [0, 1] (0 or undefined: the dataset's labels). */
  noise?: number;
}

export interface RunSetup {
  /** The training examples with the labels the run trains on (noisy under label noise). */
  train: Split;
  /** The test examples the run evaluates. */
  test: Split;
  model: Model;
  trainer: Trainer;
  batches: BatchIterator;
  /** Trainer steps per weight update (serial M3 takes one step per micro-batch); epochs hold whole updates. */
  stepsPerUpdate: number;
  /** The generator of the batch order, whose state a checkpoint carries. */
  batchRng: Rng;
  /** Present when the run has label noise. */
  noisy: NoisyLabels | null;
  /** The generator for the fixed evaluation samples; drawn from only when the caller needs samples. */
  evalRng: Rng;
}

/** The model named in the settings, initialised from `rng` (as cgh train builds it). */
export function buildModel(s: RunSettings, inputShape: number[], numClasses: number, rng: Rng): Model {
  return createModel(s.model, { inputShape, numClasses, hidden: s.hidden, width: s.width, init: s.init, rng });
}

export function setupRun(gpu: Gpu, ds: Dataset, s: RunSettings): RunSetup {
  if (s.trainSubset !== undefined && s.trainSubset > ds.train.n) {
    throw new DataError(`the training subset of ${s.trainSubset} is larger than the ${ds.train.n} training examples; use ${ds.train.n} or less`);
  }
  if (s.testSubset !== undefined && s.testSubset > ds.test.n) {
    throw new DataError(`the test subset of ${s.testSubset} is larger than the ${ds.test.n} test examples; use ${ds.test.n} or less`);
  }
  const test = s.testSubset !== undefined ? subset(ds.test, s.testSubset) : ds.test;
  const rule = { rule: s.rule, groups: s.groups, winsor: s.winsor ?? 0, m3Mode: s.m3Mode, batchSize: s.batchSize, momentum: s.momentum };
  const transform = createRule(rule);
  let train = s.trainSubset !== undefined ? subset(ds.train, s.trainSubset) : ds.train;
  const master = new Rng(s.seed);
  const modelRng = master.fork();
  const batchRng = master.fork();
  const noiseRng = master.fork();
  const evalRng = master.fork();
  let noisy: NoisyLabels | null = null;
  if (s.noise !== undefined && s.noise > 0) {
    noisy = applyLabelNoise(train.labels, s.noise, ds.numClasses, noiseRng);
    train = { images: train.images, labels: noisy.labels, n: train.n };
  }
  if (s.batchSize > train.n) {
    throw new DataError(`batch size ${s.batchSize} is larger than the ${train.n} training examples; use a batch size of ${train.n} or less`);
  }
  const stepBatch = trainerBatchSize(rule);
  const batches = new BatchIterator(train, stepBatch, batchRng);
  const model = buildModel(s, ds.shape, ds.numClasses, modelRng);
  const trainer = new Trainer(gpu, model, {
    batchSize: stepBatch,
    evalBatchSize: s.evalBatchSize,
    sgd: { lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay },
    transform,
  });
  return { train, test, model, trainer, batches, stepsPerUpdate: stepsPerUpdate(rule), batchRng, noisy, evalRng };
}

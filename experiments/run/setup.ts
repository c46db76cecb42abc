import { Rng } from '../../engine/random.js';
import { Trainer } from '../../engine/trainer.js';
import type { Gpu } from '../../engine/gpu.js';
import { BatchIterator, DataError, subset, type Dataset, type Split } from '../../engine/data/dataset.js';
import type { Model } from '../../models/model.js';
import { createModel } from '../../models/registry.js';
import { createRule, RULE_STATE_NAMES, stepsPerUpdate, trainerBatchSize, type RuleOptions } from '../rules/index.js';
import type { RunSettings } from './settings.js';

export type { RunSettings };
import { applyLabelNoise, type NoisyLabels } from './label-noise.js';

/**
 * Building one training run from its settings (browser-safe): the labels it trains on, the model, the gradient
 * rule, the trainer and the batch order. Every run (cgh train, an experiment's, the page's) is built here.
 *
 * The seeding scheme: master = Rng(seed); the model's initialisation draws from master's first fork, the batch
 * order from its second (its state travels in every checkpoint). Label noise draws from Rng(2 dataSeed + 1) and
 * the fixed evaluation samples from Rng(2 dataSeed + 2) and Rng(2 dataSeed + 3), so that the runs of an experiment,
 * whatever their seeds, see the same noisy labels and samples.
 */
/** Checkpoint tensors that are not the model's: a gradient rule's state and the per-example records. */
export const NOT_MODEL_STATE: readonly RegExp[] = [...RULE_STATE_NAMES, /^records\./];

/** The examples a run works with. */
export interface RunExamples { train: Split; test: Split; numClasses: number; inputShape: number[] }

export interface RunSetup {
  /** The training examples with the labels the run trains on (noisy under label noise). */
  train: Split;
  model: Model;
  trainer: Trainer;
  batches: BatchIterator;
  /** Trainer steps per weight update (serial M3 takes one step per micro-batch); epochs hold whole updates. */
  stepsPerUpdate: number;
  /** The generator of the batch order, whose state a checkpoint carries. */
  batchRng: Rng;
  /** The labels before and after noise (noise 0: unchanged). */
  noisy: NoisyLabels;
}

export function ruleOptionsOf(s: RunSettings): RuleOptions {
  return { rule: s.rule, groups: s.groups, winsor: s.winsor ?? 0, m3Mode: s.m3Mode ?? 'one-pass', batchSize: s.batchSize, momentum: s.momentum };
}

/** The labels a run trains on: the clean ones under label noise of its level, drawn from its data seed. */
export function noisyLabels(labels: Int32Array, noise: number, numClasses: number, dataSeed: number): NoisyLabels {
  return applyLabelNoise(labels, noise, numClasses, new Rng(dataSeed * 2 + 1));
}

/** The generators of the fixed evaluation samples: of the training set, then of the test set. */
export function sampleRngs(dataSeed: number): { train: Rng; test: Rng } {
  return { train: new Rng(dataSeed * 2 + 2), test: new Rng(dataSeed * 2 + 3) };
}

/** The first N training and test examples of a dataset (cgh train's and the page's --train-subset, --test-subset). */
export function firstExamples(ds: Dataset, trainSubset?: number, testSubset?: number): RunExamples {
  if (trainSubset !== undefined && trainSubset > ds.train.n) {
    throw new DataError(`the training subset of ${trainSubset} is larger than the ${ds.train.n} training examples; use ${ds.train.n} or less`);
  }
  if (testSubset !== undefined && testSubset > ds.test.n) {
    throw new DataError(`the test subset of ${testSubset} is larger than the ${ds.test.n} test examples; use ${ds.test.n} or less`);
  }
  return {
    train: trainSubset !== undefined ? subset(ds.train, trainSubset) : ds.train,
    test: testSubset !== undefined ? subset(ds.test, testSubset) : ds.test,
    numClasses: ds.numClasses,
    inputShape: ds.shape,
  };
}

export function setupRun(gpu: Gpu, data: Omit<RunExamples, 'test'>, s: RunSettings): RunSetup {
  const rule = ruleOptionsOf(s);
  const transform = createRule(rule);
  const noisy = noisyLabels(data.train.labels, s.noise ?? 0, data.numClasses, s.dataSeed ?? s.seed);
  const train = { ...data.train, labels: noisy.labels };
  if (s.batchSize > train.n) {
    throw new DataError(`batch size ${s.batchSize} is larger than the ${train.n} training examples; use a batch size of ${train.n} or less`);
  }
  const master = new Rng(s.seed);
  const modelRng = master.fork();
  const batchRng = master.fork();
  const stepBatch = trainerBatchSize(rule);
  const batches = new BatchIterator(train, stepBatch, batchRng);
  const model = createModel(s.model, { inputShape: data.inputShape, numClasses: data.numClasses, hidden: s.hidden, width: s.width, init: s.init,
    rng: modelRng });
  const trainer = new Trainer(gpu, model, {
    batchSize: stepBatch,
    evalBatchSize: s.evalBatchSize,
    sgd: { lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay },
    transform,
  });
  return { train, model, trainer, batches, stepsPerUpdate: stepsPerUpdate(rule), batchRng, noisy };
}

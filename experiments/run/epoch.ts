// What the epoch loops share: cgh train's (train-loop.ts) and the browser page's pausable one (web/session.ts)
// read the running training metrics with a stop on a non-finite loss and write the same epoch row; the
// experiment runner (experiment-run.ts) sums the metrics the same way. No file system here: the page imports it.
import type { EpochMetrics, Trainer } from '../../engine/trainer.js';
import type { Split } from '../../engine/data/dataset.js';

/** Training diverged; the message names the step and the fix. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** One metrics.jsonl row per epoch. Fields ending in _s are timings; every other field is deterministic. */
export interface EpochRow {
  kind: 'epoch';
  /** 1-based: the row after the first epoch has epoch 1. */
  epoch: number;
  /** Steps taken so far. */
  step: number;
  lr: number;
  /** Mean loss and accuracy of the epoch's training steps, as they were taken (train mode). */
  run_loss: number;
  run_acc: number;
  /** The whole training split and the test split evaluated after the epoch (eval mode). */
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
  /** Training throughput of the epoch (steps only, evaluation excluded). */
  examples_per_s: number;
  /** Wall time of the run so far, across resumptions. */
  elapsed_s: number;
  /** With a coherence probe: the m-coherence of the epoch's last batch. */
  coherence?: number;
}

/** Example-weighted sums of the training steps' loss and accuracy. */
export class StepSums {
  loss = 0;
  right = 0;
  n = 0;
  add(m: EpochMetrics): void {
    this.loss += m.loss * m.examples;
    this.right += m.accuracy * m.examples;
    this.n += m.examples;
  }
  get meanLoss(): number { return this.loss / Math.max(1, this.n); }
  get meanAcc(): number { return this.right / Math.max(1, this.n); }
}

/**
 * The trainer's running metrics since the last read (a wait for the GPU), added to each of `sums`. A non-finite
 * loss throws a TrainingError naming the step, the epoch (0-based `epoch`, shown 1-based) and the lr; `advice`
 * says how to train again with a tenth of it.
 */
export async function takeStepMetrics(trainer: Trainer, epoch: number, lr: number, sums: StepSums[], advice: (lower: number) => string): Promise<EpochMetrics> {
  const m = await trainer.takeMetrics();
  if (m.nonFiniteStep !== null) {
    throw new TrainingError(`the training loss became NaN or infinite at step ${m.nonFiniteStep} (epoch ${epoch + 1}, learning rate ${lr}); ${advice(+(lr / 10).toPrecision(3))}`);
  }
  for (const s of sums) s.add(m);
  return m;
}

/**
 * The row of an epoch just finished: its training sums, then the training and test sets evaluated after it;
 * `elapsedS` is read once they are.
 */
export async function epochRow(trainer: Trainer, at: { epoch: number; step: number; lr: number; examplesPerS: number; elapsedS: () => number }, sums: StepSums, sets: { train: Split; test: Split }): Promise<EpochRow> {
  const onTrain = await trainer.evaluate(sets.train);
  const onTest = await trainer.evaluate(sets.test);
  return {
    kind: 'epoch',
    epoch: at.epoch,
    step: at.step,
    lr: at.lr,
    run_loss: sums.meanLoss,
    run_acc: sums.meanAcc,
    train_loss: onTrain.loss,
    train_acc: onTrain.accuracy,
    test_loss: onTest.loss,
    test_acc: onTest.accuracy,
    examples_per_s: at.examplesPerS,
    elapsed_s: at.elapsedS(),
  };
}

// The rows of metrics.jsonl that the training loop (loop.ts) writes, and the sums behind them. Browser-safe.
import type { EpochMetrics } from '../../engine/trainer.js';

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
  /** The whole training split and the test split evaluated after the epoch (eval mode; cgh train and the page). */
  train_loss?: number;
  train_acc?: number;
  /** Top-5 accuracy (1 with 5 classes or fewer). */
  train_top5?: number;
  test_loss?: number;
  test_acc?: number;
  test_top5?: number;
  /** Training throughput of the epoch (steps only, evaluation excluded). */
  examples_per_s: number;
  /** Wall time of the run so far, across resumptions. */
  elapsed_s: number;
  /** With a coherence probe: the m-coherence of the epoch's last batch. */
  coherence?: number;
}

/** An epoch row with the whole training and test splits evaluated (cgh train's and the page's). */
export type EvaluatedEpochRow = EpochRow & Required<Pick<EpochRow, 'train_loss' | 'train_acc' | 'train_top5' | 'test_loss' | 'test_acc' | 'test_top5'>>;

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

/** Written every `logEvery` steps (and at evaluation points when asked): the training metrics since the last one. */
export interface StepRow { kind: 'step'; epoch: number; step: number; lr: number; loss: number; acc: number; coherence?: number }

/** One evaluated set at one evaluation point. */
export interface EvalRow { kind: 'eval'; step: number; epoch: number; set: string; loss: number; acc: number; top5: number; n: number }

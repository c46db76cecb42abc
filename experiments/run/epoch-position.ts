// Where inside an epoch a run stopped on purpose (its abort signal): what the stop checkpoint carries so that
// the resumed run finishes that epoch exactly as an uninterrupted one would. Browser-safe.
import { StepSums } from './rows.js';

/**
 * The checkpoint's `rng` is then the batch generator at the start of the unfinished epoch, so the resumed run
 * draws the same order again and skips the steps already taken.
 */
export interface EpochPosition {
  /** Steps of the epoch taken. */
  stepsDone: number;
  /** The evaluation due at stepsDone (a scheduled point or the epoch end's) was interrupted; it is done again from its start. */
  evaluationDue: boolean;
  /** The epoch's step-metric sums and those of the next step row, [loss, right, n] (see StepSums). */
  epochSums: number[];
  rowSums: number[];
  /** The trainer's metric sums not yet read (Trainer.metricSums), put back as they were so that they round alike. */
  unread: number[];
  /** The epoch's training examples and seconds so far (its examples_per_s). */
  examples: number;
  train_s: number;
  /** With a coherence probe and an interrupted epoch-end evaluation: the epoch's last batch's, measured before it. */
  coherence?: number;
}

/** A resumed run's start in a log line: "after epoch 2", or "in epoch 3 at step 57" when it stopped inside one. */
export function resumePoint(epoch: number, step: number, insideEpoch: boolean): string {
  return insideEpoch ? `in epoch ${epoch + 1} at step ${step}` : `after epoch ${epoch}`;
}

export function sumsState(s: StepSums): number[] {
  return [s.loss, s.right, s.n];
}

export function sumsOf(state: number[]): StepSums {
  const s = new StepSums();
  [s.loss, s.right, s.n] = state;
  return s;
}

/** Whether a checkpoint's position is one this run can continue from (an epoch of stepsPerEpoch steps). */
export function isPosition(p: unknown, stepsPerEpoch: number): p is EpochPosition {
  const x = p as EpochPosition;
  const numbers = (a: unknown, n: number) => Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  return typeof x === 'object' && x !== null && Number.isInteger(x.stepsDone) && x.stepsDone >= 0 && x.stepsDone <= stepsPerEpoch
    && typeof x.evaluationDue === 'boolean' && (x.stepsDone < stepsPerEpoch || x.evaluationDue)
    && numbers(x.epochSums, 3) && numbers(x.rowSums, 3) && numbers(x.unread, 4) && typeof x.examples === 'number' && typeof x.train_s === 'number';
}

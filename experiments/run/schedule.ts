/**
 * Learning-rate schedules, stepped once per epoch as in PyTorch's ImageNet example:
 * - milestones (when given, whatever the schedule): MultiStepLR, the rate divided by 10 at each listed epoch.
 * - constant: the base rate throughout.
 * - step: StepLR(step_size, gamma = 0.1), the rate divided by 10 every `stepSize` epochs.
 * - cosine: CosineAnnealingLR(T_max = epochs, eta_min = 0), lr = base (1 + cos(pi e / epochs)) / 2.
 */
export type ScheduleName = 'constant' | 'step' | 'cosine';
export const SCHEDULES: ScheduleName[] = ['constant', 'step', 'cosine'];

export interface ScheduleOptions {
  schedule: ScheduleName;
  lr: number;
  epochs: number;
  /** Epochs between divisions by 10 (step schedule). */
  stepSize: number;
  /** Epochs at which the rate is divided by 10 (overrides the schedule when non-empty). */
  milestones?: number[];
}

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

export function validateSchedule(o: ScheduleOptions): void {
  if (!SCHEDULES.includes(o.schedule)) throw new ScheduleError(`unknown schedule "${o.schedule}"; use --schedule ${SCHEDULES.join('|')}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new ScheduleError(`learning rate ${o.lr} must be a positive number; use e.g. --lr 0.1`);
  if (o.schedule === 'step' && !(Number.isInteger(o.stepSize) && o.stepSize >= 1)) {
    throw new ScheduleError(`--step-size ${o.stepSize} must be a whole number of epochs, 1 or more`);
  }
}

/** The learning rate for epoch `epoch` (0-based); any settings object with the schedule's fields will do. */
export function learningRate(o: ScheduleOptions, epoch: number): number {
  if (o.milestones && o.milestones.length > 0) return o.lr * Math.pow(0.1, o.milestones.filter((m) => epoch >= m).length);
  switch (o.schedule) {
    case 'constant':
      return o.lr;
    case 'step':
      return o.lr * Math.pow(0.1, Math.floor(epoch / o.stepSize));
    case 'cosine':
      return (o.lr * (1 + Math.cos((Math.PI * epoch) / o.epochs))) / 2;
  }
}

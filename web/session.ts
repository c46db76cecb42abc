// One training run on the page: cgh train's epoch loop (experiments/train-loop.ts) step for step, plus
// evaluations of fixed samples on the Coherent Gradients schedule for the live curves, made pausable
// and giving the page's event loop a turn between groups of steps.
import type { Gpu } from '../engine/gpu.js';
import type { Dataset, Split } from '../engine/data/dataset.js';
import { encodeSafetensors, storedTensor } from '../engine/safetensors.js';
import { setupRun, type RunSettings, type RunSetup } from '../experiments/run/setup.js';
import { learningRate, type ScheduleName } from '../experiments/run/schedule.js';
import { drawEvalSets, gatherExamples, isScheduledStep, sampleIndices } from '../experiments/run/eval-sets.js';
import type { StepRow } from '../experiments/run/train-loop.js';
import { epochRow, StepSums, takeStepMetrics, TrainingError, type EpochRow } from '../experiments/run/epoch.js';
import type { EvalRow } from '../experiments/run/experiment-loop.js';

export interface PageConfig extends RunSettings {
  /** 'mnist' (served with the page) or 'idx-files' (picked from disk; names in dataFiles). */
  dataset: string;
  dataFiles?: string[];
  epochs: number;
  schedule: ScheduleName;
  stepSize: number;
  /** Size of each fixed evaluation sample: training sample, pristine, corrupt and test. */
  sampleSize: number;
}

/**
 * metrics.jsonl rows: cgh train's epoch rows (same fields, same values), its step rows (the training
 * steps since the previous evaluation point), and the experiment runner's eval rows, one per sample.
 */
export type Row = EpochRow | StepRow | EvalRow;

export interface Progress {
  step: number;
  totalSteps: number;
  /** Examples per second of the latest group of training steps (null while evaluating). */
  examplesPerS: number | null;
  phase: 'training' | 'evaluating';
}

export interface SessionEvents {
  onRow?(row: Row): void;
  onProgress?(p: Progress): void;
}

/**
 * Steps between waits for the GPU: about this much work, so that Stop answers quickly and the queue stays
 * short. A hidden tab gets its timers (and so the waits, which sleep first) delayed to whole seconds, so
 * there the groups are made about that long.
 */
const TARGET_MS_PER_SYNC = 50;
const TARGET_MS_PER_SYNC_HIDDEN = 1000;
/** Longest stretch without giving the page's event loop a turn. */
const YIELD_MS = 100;

export class TrainingSession {
  readonly rows: Row[] = [];
  readonly setup: RunSetup;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  private readonly samples: { name: string; split: Split }[];
  private epoch = 0;
  private step = 0;
  /** The current epoch's batches, null between epochs; kept across a stop so that resuming continues it. */
  private batches: Generator<{ images: Float32Array; labels: Int32Array; size: number }> | null = null;
  private inEpoch = 0;
  private epochSums = new StepSums();
  private epochTraining = { examples: 0, trainMs: 0 };
  private sincePoint = new StepSums();
  private activeMs = 0;
  private stopRequested = false;
  private running = false;
  private error: unknown = null;
  private syncEvery = 1;
  private lastYield = 0;
  /** Set while a checkpoint is read, so that no step lands between the tensors it copies. */
  private hold: Promise<void> | null = null;

  constructor(readonly gpu: Gpu, readonly ds: Dataset, readonly config: PageConfig, private readonly events: SessionEvents = {}) {
    this.setup = setupRun(gpu, ds, config);
    const { batches, train, noisy, evalRng, stepsPerUpdate } = this.setup;
    this.stepsPerEpoch = Math.floor(batches.batchesPerEpoch / stepsPerUpdate) * stepsPerUpdate;
    if (this.stepsPerEpoch === 0) {
      throw new TrainingError(`an epoch of ${batches.batchesPerEpoch} micro-batches holds no whole update of ${stepsPerUpdate}; use a smaller batch or more training examples`);
    }
    this.totalSteps = this.stepsPerEpoch * config.epochs;
    const size = Math.min(config.sampleSize, train.n);
    const sets = noisy ? drawEvalSets(noisy, size, evalRng) : null;
    const trainIdx = sets ? sets.trainSample : sampleIndices(train.n, size, evalRng);
    this.samples = [
      { name: 'train-sample', split: gatherExamples(train, trainIdx) },
      ...(sets ? [{ name: 'pristine', split: gatherExamples(train, sets.pristine) }, { name: 'corrupt', split: gatherExamples(train, sets.corrupt) }] : []),
      { name: 'test', split: gatherExamples(this.setup.test, sampleIndices(this.setup.test.n, config.sampleSize, evalRng)) },
    ].filter((s) => s.split.n > 0);
  }

  get done(): boolean { return this.epoch >= this.config.epochs; }
  /** An error stopped the run (a non-finite loss, a lost device); it cannot be resumed. */
  get failed(): boolean { return this.error !== null; }
  get isRunning(): boolean { return this.running; }
  get currentStep(): number { return this.step; }

  /** Ask a running session to pause after the step in flight; run() then resolves with 'stopped'. */
  stop(): void { this.stopRequested = true; }

  /** Train until the last epoch or until stop(); call again to resume where it paused. */
  async run(): Promise<'done' | 'stopped'> {
    if (this.running) throw new Error('this run is already training');
    if (this.error) throw this.error;
    this.running = true;
    this.stopRequested = false;
    try {
      if (this.rows.length === 0) await this.evaluatePoint();
      while (this.epoch < this.config.epochs) {
        if (await this.trainEpoch() === 'stopped') return 'stopped';
      }
      return 'done';
    } catch (e) {
      this.error = e;
      throw e;
    } finally {
      this.running = false;
    }
  }

  private lr(): number {
    return learningRate(this.config, this.epoch);
  }

  private progress(phase: Progress['phase'], examplesPerS: number | null): void {
    this.events.onProgress?.({ step: this.step, totalSteps: this.totalSteps, examplesPerS, phase });
  }

  /** The rest of the current epoch (all of it unless resumed part-way), then its row. */
  private async trainEpoch(): Promise<'epoch' | 'stopped'> {
    const { trainer } = this.setup;
    const lr = this.lr();
    if (!this.batches) {
      this.batches = this.setup.batches.epoch();
      this.inEpoch = 0;
      this.epochSums = new StepSums();
      this.epochTraining = { examples: 0, trainMs: 0 };
    }
    let groupStart = performance.now();
    let groupExamples = 0;
    let sinceSync = 0;
    while (this.inEpoch < this.stepsPerEpoch) {
      if (this.stopRequested) {
        await this.gpu.idle();
        this.addTrainTime(groupStart);
        return 'stopped';
      }
      while (this.hold) await this.hold;
      const next = this.batches.next();
      if (next.done) break;
      const b = next.value;
      trainer.step(b.images, b.labels, this.step, lr);
      this.step++;
      this.inEpoch++;
      sinceSync++;
      groupExamples += b.size;
      this.epochTraining.examples += b.size;
      const point = this.inEpoch < this.stepsPerEpoch && isScheduledStep(this.step, this.stepsPerEpoch);
      if (sinceSync >= this.syncEvery || point) {
        await this.gpu.idle();
        const ms = performance.now() - groupStart;
        this.addTrainTime(groupStart);
        // Capped because every queued step holds a copy of its batch until the GPU gets to it.
        const [target, cap] = isHidden() ? [TARGET_MS_PER_SYNC_HIDDEN, 256] : [TARGET_MS_PER_SYNC, 64];
        this.syncEvery = Math.max(1, Math.min(cap, Math.round(target / Math.max(ms / sinceSync, 1e-3))));
        this.progress('training', ms > 0 ? (groupExamples / ms) * 1000 : null);
        sinceSync = 0;
        groupExamples = 0;
        await this.breathe();
        if (point) await this.evaluatePoint();
        groupStart = performance.now();
      }
    }
    await this.gpu.idle();
    this.addTrainTime(groupStart);
    await this.takeMetrics(lr);
    this.progress('evaluating', null);
    const t = this.epochTraining;
    const at = { epoch: this.epoch + 1, step: this.step, lr, examplesPerS: t.examples / Math.max(1e-9, t.trainMs / 1000), elapsedS: () => this.activeMs / 1000 };
    const row = await epochRow(trainer, at, this.epochSums, { train: this.setup.batches.split, test: this.setup.test });
    this.epoch++;
    this.batches = null;
    this.push(row);
    await this.evaluatePoint();
    return 'epoch';
  }

  /** A fast GPU can answer every wait at once and leave the page no gap to paint or take a click in. */
  private async breathe(): Promise<void> {
    if (isHidden() || performance.now() - this.lastYield < YIELD_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.lastYield = performance.now();
  }

  private addTrainTime(since: number): void {
    const ms = performance.now() - since;
    this.epochTraining.trainMs += ms;
    this.activeMs += ms;
  }

  /** Reads the GPU's running training metrics into the epoch's sums and the next step row's; stops on a non-finite loss. */
  private async takeMetrics(lr: number): Promise<void> {
    await takeStepMetrics(this.setup.trainer, this.epoch, lr, [this.epochSums, this.sincePoint], (lower) => `lower the learning rate (e.g. ${lower}) and train again`);
  }

  /** A point of the curves: the training steps since the previous point, then every fixed sample. */
  private async evaluatePoint(): Promise<void> {
    const t0 = performance.now();
    this.progress('evaluating', null);
    const endOfEpoch = this.step % this.stepsPerEpoch === 0;
    if (!endOfEpoch) await this.takeMetrics(this.lr());
    const since = this.sincePoint;
    if (since.n > 0) {
      // At an epoch end the epoch row is already out, so the step row belongs to the epoch just done.
      const epoch = endOfEpoch ? this.epoch : this.epoch + 1;
      const lr = learningRate(this.config, epoch - 1);
      this.push({ kind: 'step', epoch, step: this.step, lr, loss: since.meanLoss, acc: since.meanAcc });
    }
    this.sincePoint = new StepSums();
    for (const { name, split } of this.samples) {
      const ev = await this.setup.trainer.evaluate(split);
      this.push({ kind: 'eval', step: this.step, epoch: this.step / this.stepsPerEpoch, set: name, loss: ev.loss, acc: ev.accuracy, n: split.n });
    }
    this.activeMs += performance.now() - t0;
  }

  private push(row: Row): void {
    this.rows.push(row);
    this.events.onRow?.(row);
  }

  metricsJsonl(): string {
    return this.rows.map((r) => JSON.stringify(r) + '\n').join('');
  }

  /**
   * Parameters, momentum and rule state, named as cgh train saves them. Between epochs the metadata
   * carries the batch generator's state as cgh train's checkpoints do; inside an epoch it cannot (that
   * epoch's order is already drawn), so such a checkpoint holds the weights but does not resume.
   */
  async checkpoint(): Promise<Uint8Array> {
    while (this.hold) await this.hold;
    let release!: () => void;
    this.hold = new Promise((resolve) => { release = resolve; });
    try {
      const tensors = await this.setup.trainer.stateTensors();
      const meta = {
        epoch: this.epoch,
        step: this.step,
        ...(this.batches === null ? { rng: this.setup.batchRng.getState() } : { mid_epoch: true }),
        elapsed_s: this.activeMs / 1000,
        metricsRows: this.rows.length,
        config: this.config,
      };
      return encodeSafetensors(tensors.map(storedTensor), { cgh: JSON.stringify(meta) });
    } finally {
      this.hold = null;
      release();
    }
  }
}

function isHidden(): boolean {
  return typeof document !== 'undefined' && document.hidden;
}

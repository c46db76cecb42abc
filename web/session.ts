// One training run on the page: a thin driver of the training loop (experiments/run/loop.ts) that cgh train
// and the experiments run, with its rows and checkpoints kept in memory, fixed samples evaluated on the
// Coherent Gradients schedule for the live curves, a pause between any two steps, and the page's event loop
// given a turn between groups of steps.
import type { Gpu } from '../engine/gpu.js';
import type { Dataset, Split } from '../engine/data/dataset.js';
import { asFloat32, decodeSafetensors, encodeSafetensors, storedTensor } from '../engine/safetensors.js';
import { firstExamples, sampleRngs, setupRun, type RunSettings, type RunSetup } from '../experiments/run/setup.js';
import type { ScheduleName } from '../experiments/run/schedule.js';
import { drawEvalSets, gatherExamples, isScheduledStep, sampleIndices } from '../experiments/run/eval-sets.js';
import { trainLoop, type LoopResult, type RunStore } from '../experiments/run/loop.js';
import { TrainingError, type EpochRow, type EvalRow, type StepRow } from '../experiments/run/rows.js';
import { noiseSubsets } from '../experiments/run/label-noise.js';

export interface PageConfig extends RunSettings {
  /** 'mnist' (served with the page) or 'idx-files' (picked from disk; names in dataFiles). */
  dataset: string;
  dataFiles?: string[];
  /** Train on the first N training examples, evaluate on the first N test examples (all when undefined). */
  trainSubset?: number;
  testSubset?: number;
  epochs: number;
  schedule: ScheduleName;
  stepSize: number;
  /** Size of each fixed evaluation sample: training sample, pristine, corrupt and test. */
  sampleSize: number;
}

/** metrics.jsonl rows: cgh train's epoch rows (same fields, same values), step rows at every evaluation point, and eval rows. */
export type Row = EpochRow | StepRow | EvalRow;

export interface Progress {
  step: number;
  totalSteps: number;
  /** Examples per second of the latest group of training steps (null while evaluating). */
  examplesPerS: number | null;
  phase: 'training' | 'evaluating';
  /** While evaluating: examples evaluated of the evaluation's total; `of` says which sets. */
  evaluated?: { done: number; total: number; of: 'samples' | 'epoch' };
}

export interface SessionEvents {
  onRow?(row: Row): void;
  onProgress?(p: Progress): void;
  /** After every epoch's checkpoint (the page stores the run then). */
  onCheckpoint?(): void;
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

/** The rows and the latest checkpoint, in memory. */
/**
 * The rows and the latest epoch's checkpoint, in memory; the page copies them to IndexedDB after every epoch, and a
 * session made from a stored run starts with them, so that the loop resumes from that checkpoint as cgh train does.
 */
class MemoryStore implements RunStore {
  readonly rows: Row[] = [];
  last: LoadedCheckpoint | null = null;
  constructor(private readonly onRow: (row: Row) => void, private readonly onCheckpoint: () => void, from?: StoredState) {
    if (from) {
      this.rows.push(...from.rows);
      this.last = decodeCheckpoint(from.checkpoint);
    }
  }
  appendMetrics(row: Record<string, unknown>): void {
    this.rows.push(row as unknown as Row);
    this.onRow(row as unknown as Row);
  }
  readMetrics(): Record<string, unknown>[] { return this.rows as unknown as Record<string, unknown>[]; }
  saveCheckpoint(tensors: { name: string; shape: number[]; data: Float32Array }[], meta: Record<string, unknown>): void {
    this.last = { tensors: new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }])), meta: { ...meta, metricsRows: this.rows.length } };
    this.onCheckpoint();
  }
  loadCheckpoint(): LoadedCheckpoint | null {
    if (this.last) this.rows.length = Math.min(this.rows.length, Number(this.last.meta.metricsRows ?? this.rows.length));
    return this.last;
  }
}

type LoadedCheckpoint = { tensors: Map<string, { shape: number[]; data: Float32Array }>; meta: Record<string, unknown> };

/** A stored run to continue: its rows and its last epoch's checkpoint (safetensors bytes). */
export interface StoredState { rows: Row[]; checkpoint: Uint8Array }

function decodeCheckpoint(bytes: Uint8Array): LoadedCheckpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, 'the stored checkpoint');
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of tensors) {
    const data = asFloat32(t);
    if (!data) throw new TrainingError(`the stored checkpoint's tensor ${name} is ${t.dtype}; discard the stored run`);
    out.set(name, { shape: t.shape, data });
  }
  return { tensors: out, meta: JSON.parse(metadata.cgh ?? '{}') };
}

export class TrainingSession {
  readonly setup: RunSetup;
  readonly test: Split;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  private readonly store: MemoryStore;
  private readonly samples: { name: string; split: Split }[];
  private step = 0;
  private epochsDone = 0;
  private loop: Promise<LoopResult> | null = null;
  private error: unknown = null;
  private finished = false;
  /** A pause asked for (Stop, or a checkpoint read): the loop parks at the next step. */
  private pauseAsked: 'stop' | 'hold' | null = null;
  private parked: { resume: () => void } | null = null;
  private onParked: (() => void) | null = null;
  private syncEvery = 1;
  private lastYield = 0;

  constructor(readonly gpu: Gpu, readonly ds: Dataset, readonly config: PageConfig, private readonly events: SessionEvents = {}, from?: StoredState) {
    const examples = firstExamples(ds, config.trainSubset, config.testSubset);
    this.test = examples.test;
    this.setup = setupRun(gpu, examples, config);
    this.store = new MemoryStore((row) => events.onRow?.(row), () => events.onCheckpoint?.(), from);
    if (this.store.last) {
      this.epochsDone = Number(this.store.last.meta.epoch ?? 0);
      this.step = Number(this.store.last.meta.step ?? 0);
    }
    const { batches, train, noisy, stepsPerUpdate } = this.setup;
    this.stepsPerEpoch = Math.floor(batches.batchesPerEpoch / stepsPerUpdate) * stepsPerUpdate;
    if (this.stepsPerEpoch === 0) {
      throw new TrainingError(`an epoch of ${batches.batchesPerEpoch} micro-batches holds no whole update of ${stepsPerUpdate}; use a smaller batch or more `
        + `training examples`);
    }
    this.totalSteps = this.stepsPerEpoch * config.epochs;
    const size = Math.min(config.sampleSize, train.n);
    const rngs = sampleRngs(config.dataSeed ?? config.seed);
    const sets = (config.noise ?? 0) > 0 ? drawEvalSets(noisy, size, rngs.train) : null;
    const trainIdx = sets ? sets.trainSample : sampleIndices(train.n, size, rngs.train);
    this.samples = [
      { name: 'train-sample', split: gatherExamples(train, trainIdx) },
      ...(sets ? [{ name: 'pristine', split: gatherExamples(train, sets.pristine) }, { name: 'corrupt', split: gatherExamples(train, sets.corrupt) }] : []),
      { name: 'test', split: gatherExamples(this.test, sampleIndices(this.test.n, config.sampleSize, rngs.test)) },
    ].filter((s) => s.split.n > 0);
  }

  get rows(): Row[] { return this.store.rows; }
  get done(): boolean { return this.finished; }
  /** An error stopped the run (a non-finite loss, a lost device); it cannot be resumed. */
  get failed(): boolean { return this.error !== null; }
  get isRunning(): boolean { return this.loop !== null && !this.finished && !this.failed && this.parked === null; }
  get currentStep(): number { return this.step; }

  /** Ask a running session to pause after the step (or evaluation batch) in flight; run() then resolves with 'stopped'. */
  stop(): void { if (this.isRunning) this.pauseAsked = 'stop'; }
  /** A Stop was asked for and the loop has not reached its pause yet. */
  get stopping(): boolean { return this.pauseAsked === 'stop' && this.parked === null; }

  /** Train until the last epoch or until stop(); call again to resume where it paused. */
  async run(): Promise<'done' | 'stopped'> {
    if (this.isRunning) throw new Error('this run is already training');
    if (this.error) throw this.error;
    if (this.finished) return 'done';
    const stopped = new Promise<'stopped'>((resolve) => { this.onParked = () => resolve('stopped'); });
    if (this.parked) {
      const { resume } = this.parked;
      this.parked = null;
      resume();
    } else {
      this.loop = this.train();
    }
    return Promise.race([this.loop!.then(() => 'done' as const), stopped]);
  }

  private async train(): Promise<LoopResult> {
    const { trainer, batches, batchRng, stepsPerUpdate } = this.setup;
    const c = this.config;
    try {
      const result = await trainLoop({
        gpu: this.gpu, trainer, batches, rng: batchRng, epochs: c.epochs, schedule: c, store: this.store, stepsPerUpdate,
        // The same epoch rows as cgh train's, pristine and corrupt included under label noise.
        epochSets: { train: batches.split, test: this.test, subsets: (c.noise ?? 0) > 0 ? noiseSubsets(this.setup.noisy) : undefined },
        stepRowsAtPoints: true,
        syncEvery: 1,
        points: { at: (step, perEpoch) => isScheduledStep(step, perEpoch), evaluate: (step) => this.evaluate(step) },
        hooks: {
          gate: this.gateFn,
          onSync: (steps, ms) => this.synced(steps, ms),
          onProgress: (p) => {
            this.step = p.step;
            if (p.phase !== 'evaluating') return;
            // The loop reports the epoch's evaluation; the curves' samples report themselves (evaluate below).
            const evaluated = p.examplesTotal > 0 ? { done: p.examplesDone, total: p.examplesTotal, of: 'epoch' as const } : undefined;
            this.events.onProgress?.({ step: p.step, totalSteps: this.totalSteps, examplesPerS: null, phase: 'evaluating', evaluated });
          },
          onEpoch: (row) => { this.epochsDone = row.epoch; this.step = row.step; },
        },
      });
      if (result.diverged) {
        const { step, epoch, lr } = result.diverged;
        throw new TrainingError(`the training loss became NaN or infinite at step ${step} (epoch ${epoch + 1}, learning rate ${lr}); `
          + `lower the learning rate (e.g. ${+(lr / 10).toPrecision(3)}) and train again`);
      }
      this.step = result.step;
      this.finished = true;
      return result;
    } catch (e) {
      this.error = e;
      throw e;
    }
  }

  /** Between any two steps and any two evaluation batches: parks there when a pause was asked for. */
  private readonly gateFn = () => (this.pauseAsked ? this.park() : undefined);

  /** Parks the loop before its next step until run() (after Stop) or the checkpoint read (a hold) lets it go. */
  private async park(): Promise<void> {
    await this.gpu.idle();
    const why = this.pauseAsked;
    this.pauseAsked = null;
    await new Promise<void>((resume) => {
      this.parked = { resume };
      if (why === 'stop') this.onParked?.();
      else this.holdReached?.();
    });
  }

  private holdReached: (() => void) | null = null;

  /** After each wait for the GPU: the rate, a new group size for the target time, and a turn for the page. */
  private async synced(steps: number, ms: number): Promise<number> {
    const [target, cap] = isHidden() ? [TARGET_MS_PER_SYNC_HIDDEN, 256] : [TARGET_MS_PER_SYNC, 64];
    // Capped because every queued step holds a copy of its batch until the GPU gets to it.
    this.syncEvery = Math.max(1, Math.min(cap, Math.round(target / Math.max(ms / steps, 1e-3))));
    const examples = steps * this.setup.batches.batchSize;
    this.events.onProgress?.({ step: this.step, totalSteps: this.totalSteps, examplesPerS: ms > 0 ? (examples / ms) * 1000 : null, phase: 'training' });
    if (!isHidden() && performance.now() - this.lastYield >= YIELD_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.lastYield = performance.now();
    }
    return this.syncEvery;
  }

  /** A point of the curves: every fixed sample. */
  private async evaluate(step: number): Promise<{ stop: boolean }> {
    const total = this.samples.reduce((n, s) => n + s.split.n, 0);
    let done = 0;
    const onBatch = (examples: number) => this.events.onProgress?.({
      step, totalSteps: this.totalSteps, examplesPerS: null, phase: 'evaluating', evaluated: { done: (done += examples), total, of: 'samples' },
    });
    for (const { name, split } of this.samples) {
      const ev = await this.setup.trainer.evaluate(split, { gate: this.gateFn, onBatch });
      this.store.appendMetrics({ kind: 'eval', step, epoch: step / this.stepsPerEpoch, set: name, loss: ev.loss, acc: ev.accuracy, top5: ev.top5,
        n: split.n });
    }
    return { stop: false };
  }

  /** The last epoch's checkpoint as safetensors bytes (the layout cgh train writes), or null before the first epoch ends. */
  storedCheckpoint(): Uint8Array | null {
    const last = this.store.last;
    if (!last) return null;
    return encodeSafetensors([...last.tensors].map(([name, t]) => storedTensor({ name, ...t })), { cgh: JSON.stringify(last.meta) });
  }

  metricsJsonl(): string {
    return this.rows.map((r) => JSON.stringify(r) + '\n').join('');
  }

  /**
   * Parameters, momentum and rule state, named as cgh train saves them, with the checkpoint metadata of every
   * run. Between runs of the loop (done, or not started) it carries the batch generator's state; inside an epoch
   * it cannot (that epoch's order is already drawn), so such a checkpoint holds the weights but does not resume.
   */
  async checkpoint(): Promise<Uint8Array> {
    const running = this.isRunning;
    if (running) {
      await new Promise<void>((reached) => { this.holdReached = reached; this.pauseAsked = 'hold'; });
    }
    try {
      const tensors = await this.setup.trainer.stateTensors();
      const between = this.finished || this.loop === null;
      const meta = {
        epoch: this.epochsDone,
        step: this.step,
        ...(between ? { rng: this.setup.batchRng.getState() } : { mid_epoch: true }),
        metricsRows: this.rows.length,
        config: this.config,
      };
      return encodeSafetensors(tensors.map(storedTensor), { cgh: JSON.stringify(meta) });
    } finally {
      if (running && this.parked) {
        const { resume } = this.parked;
        this.parked = null;
        resume();
      }
    }
  }
}

function isHidden(): boolean {
  return typeof document !== 'undefined' && document.hidden;
}

// The training loop behind cgh train, every experiment's runs and the browser page. No file system here: a
// RunStore (the run folder in Node, memory in the page) keeps the rows and the checkpoint.
import type { Gpu } from '../../engine/gpu.js';
import type { Trainer } from '../../engine/trainer.js';
import type { Rng, RngState } from '../../engine/random.js';
import type { BatchIterator, Split } from '../../engine/data/dataset.js';
import { learningRate, type ScheduleOptions } from './schedule.js';
import { StepSums, type EpochRow, type StepRow } from './rows.js';
import { subsetMetrics } from './eval-sets.js';

type StateTensor = { name: string; shape: number[]; data: Float32Array };

/** Where a run's rows and checkpoint live. RunFolder is one; the page keeps them in memory. */
export interface RunStore {
  appendMetrics(row: Record<string, unknown>): void;
  readMetrics(): Record<string, unknown>[];
  saveCheckpoint(tensors: StateTensor[], meta: Record<string, unknown>): void;
  /** The last checkpoint (the store cuts its rows back to those that existed then), or null. */
  loadCheckpoint(): { tensors: Map<string, { shape: number[]; data: Float32Array }>; meta: Record<string, unknown> } | null;
}


/** The checkpoint's metadata, the same for every run: epochs finished, steps taken, the batch order's generator, time. */
export interface CheckpointMeta { epoch: number; step: number; rng: RngState; elapsed_s: number; stopped?: boolean }

export interface LoopOptions {
  gpu: Gpu;
  trainer: Trainer;
  /** The training batches; their generator `rng` is carried by the checkpoints. */
  batches: BatchIterator;
  rng: Rng;
  epochs: number;
  schedule: ScheduleOptions;
  store: RunStore;
  /** Trainer steps per weight update (serial M3); an epoch holds whole updates. */
  stepsPerUpdate?: number;
  /**
   * Evaluated after every epoch into its row (train_*, test_*): cgh train and the page. Each of `subsets` (examples
   * of the training split, e.g. the pristine and the corrupt ones under label noise) adds NAME_loss and NAME_acc,
   * from the same pass over the training split.
   */
  epochSets?: { train: Split; test: Split; subsets?: { name: string; indices: Int32Array }[] };
  /** Evaluation points (before training, at the scheduled steps and at every epoch end): experiments and the page. */
  points?: EvaluationPoints;
  /** A step row every this many steps (0: none). */
  logEvery?: number;
  /** Also a step row at every evaluation point (the page's loss curve). */
  stepRowsAtPoints?: boolean;
  /** Measures the gradient coherence of the step just submitted, for step rows and epoch rows. */
  probe?: { measure(): Promise<{ coherence: number }> };
  /** Steps between waits for the GPU (default: about 512 examples). */
  syncEvery?: number;
  /** Other state a checkpoint carries (per-example records); loaded back on resume. */
  extraState?: { tensors(): StateTensor[]; load(tensors: Map<string, { shape: number[]; data: Float32Array }>): void };
  hooks?: LoopHooks;
}

export interface EvaluationPoints {
  /** Whether a step inside an epoch is an evaluation point (epoch ends always are). */
  at(step: number, stepsPerEpoch: number): boolean;
  /** Evaluates at `step`; `stop` true ends the run there (a stop criterion met). */
  evaluate(step: number, signal?: AbortSignal): Promise<{ stop: boolean }>;
}

export interface LoopHooks {
  /** Called with the epoch a resumed run starts from (0 for a fresh run). */
  onStart?(startEpoch: number): void;
  onRow?(row: Record<string, unknown>): void;
  onEpoch?(row: EpochRow): void;
  onProgress?(p: { epoch: number; step: number; examplesDone: number; examplesTotal: number; phase: 'training' | 'evaluating' }): void;
  /** After each wait for the GPU: the steps and training milliseconds since the previous one. May return a new syncEvery. */
  onSync?(steps: number, ms: number): Promise<number | void> | number | void;
  /** Awaited before every step: a pending promise pauses the run there (the page's Stop). */
  gate?(): Promise<void> | void;
  /** Stops the run after the step in flight or between evaluation batches, with the signal's reason. */
  signal?: AbortSignal;
  /** Stop after this many epochs have been completed and checkpointed, as if killed (tests). */
  stopAfterEpoch?: number;
}

export type LoopStatus = 'completed' | 'stopped' | 'paused-after-epoch' | 'diverged';

export interface LoopResult {
  status: LoopStatus;
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  elapsed_s: number;
  /** A non-finite loss: the step, the 0-based epoch and its lr. */
  diverged?: { step: number; epoch: number; lr: number };
}

/**
 * Trains to the last epoch from the store's last checkpoint (or from the start): seeded batches, the lr
 * schedule, step rows, evaluation points, an epoch row and a checkpoint per epoch. Bit-identical whether it
 * runs straight through or is resumed. A non-finite loss ends it with status 'diverged' (callers decide
 * whether that is an error); a stop criterion with 'stopped', after a partial epoch row and a checkpoint.
 */
export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { gpu, trainer, batches, store } = o;
  const hooks = o.hooks ?? {};
  const B = batches.batchSize;
  let syncEvery = o.syncEvery ?? Math.max(1, Math.round(512 / B));
  const perUpdate = o.stepsPerUpdate ?? 1;
  const spe = Math.floor(batches.batchesPerEpoch / perUpdate) * perUpdate;
  if (spe === 0) {
    throw new LoopError(`an epoch of ${batches.batchesPerEpoch} steps holds no whole update of ${perUpdate} steps; use a smaller batch or more examples`);
  }

  let epoch = 0, step = 0, elapsedBefore = 0, activeMs = 0;
  const ck = store.loadCheckpoint();
  if (ck) {
    const meta = ck.meta as unknown as CheckpointMeta;
    if (!Number.isInteger(meta.epoch) || !Number.isInteger(meta.step) || !meta.rng) {
      throw new LoopError('the checkpoint lacks the epoch, step or generator state; delete it to restart the run');
    }
    const own = new Map([...ck.tensors].filter(([name]) => !name.startsWith('records.')));
    try {
      trainer.loadStateTensors(own);
      o.extraState?.load(ck.tensors);
    } catch (e) {
      throw new LoopError(`cannot resume: ${(e as Error).message}`);
    }
    o.rng.setState(meta.rng);
    ({ epoch, step } = meta);
    elapsedBefore = meta.elapsed_s ?? 0;
    if (meta.stopped) return { status: 'stopped', epoch, step, stepsPerEpoch: spe, elapsed_s: elapsedBefore };
  }
  hooks.onStart?.(epoch);
  let since = performance.now();
  const tick = () => { const now = performance.now(); activeMs += now - since; since = now; };
  const elapsed = () => { tick(); return elapsedBefore + activeMs / 1000; };
  const append = (row: Record<string, unknown>) => {
    store.appendMetrics({ ...row });
    hooks.onRow?.(row);
  };
  const lrOf = (e: number) => learningRate(o.schedule, e);
  const checkpoint = async (stopped: boolean) => {
    const tensors = [...(await trainer.stateTensors()), ...(o.extraState?.tensors() ?? [])];
    const meta: CheckpointMeta = { epoch, step, rng: o.rng.getState(), elapsed_s: elapsed(), ...(stopped ? { stopped } : {}) };
    store.saveCheckpoint(tensors, { ...meta });
  };
  const result = (status: LoopStatus, diverged?: LoopResult['diverged']): LoopResult => ({ status, epoch, step, stepsPerEpoch: spe, elapsed_s: elapsed(),
    diverged });

  let epochSums = new StepSums();
  let rowSums = new StepSums();
  // The running metrics since the last read, into the epoch's and the next step row's sums; null when finite.
  const take = async (): Promise<number | null> => {
    const m = await trainer.takeMetrics();
    if (m.nonFiniteStep !== null) return m.nonFiniteStep;
    epochSums.add(m);
    rowSums.add(m);
    return null;
  };
  const stepRow = async (rowEpoch: number) => {
    const row: StepRow = { kind: 'step', epoch: rowEpoch, step, lr: lrOf(rowEpoch - 1), loss: rowSums.meanLoss, acc: rowSums.meanAcc };
    if (o.probe) row.coherence = (await o.probe.measure()).coherence;
    append({ ...row });
    rowSums = new StepSums();
  };
  // An evaluation point: the step row since the last one (when asked), then the point's sets.
  const point = async (rowEpoch: number): Promise<boolean> => {
    if (!o.points) return false;
    if (o.stepRowsAtPoints && rowSums.n > 0) await stepRow(rowEpoch);
    hooks.onProgress?.({ epoch, step, examplesDone: 0, examplesTotal: 0, phase: 'evaluating' });
    return (await o.points.evaluate(step, hooks.signal)).stop;
  };

  if (!ck && o.points && (await point(0))) {
    await checkpoint(true);
    return result('stopped');
  }
  while (epoch < o.epochs) {
    const lr = lrOf(epoch);
    const total = spe * B;
    let done = 0, trainMs = 0, sinceSync = 0;
    let t0 = performance.now();
    epochSums = new StepSums();
    hooks.onProgress?.({ epoch, step, examplesDone: 0, examplesTotal: total, phase: 'training' });
    let inEpoch = 0;
    for (const b of batches.epoch()) {
      if (inEpoch++ === spe) break;
      await gateOf(hooks, () => { trainMs += performance.now() - t0; tick(); }, () => { t0 = performance.now(); since = t0; });
      hooks.signal?.throwIfAborted();
      trainer.step(b.images, b.labels, step, lr);
      step++;
      sinceSync++;
      done += b.size;
      const logNow = (o.logEvery ?? 0) > 0 && step % o.logEvery! === 0;
      const pointNow = step % spe !== 0 && o.points !== undefined && o.points.at(step, spe);
      if (logNow || pointNow) {
        const bad = await take();
        if (bad !== null) return result('diverged', { step: bad, epoch, lr });
        if (logNow && !(pointNow && o.stepRowsAtPoints)) await stepRow(epoch + 1);
        trainMs += performance.now() - t0;
        if (pointNow && (await point(epoch + 1))) {
          append({ ...epochRowOf({ epoch: step / spe, step, lr, sums: epochSums, examplesPerS: 0, elapsedS: elapsed() }) });
          await checkpoint(true);
          return result('stopped');
        }
        t0 = performance.now();
        hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'training' });
      } else if (sinceSync >= syncEvery) {
        await gpu.idle();
        const ms = performance.now() - t0;
        trainMs += ms;
        hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'training' });
        syncEvery = (await hooks.onSync?.(sinceSync, ms)) || syncEvery;
        sinceSync = 0;
        t0 = performance.now();
      }
    }
    const bad = await take();
    if (bad !== null) return result('diverged', { step: bad, epoch, lr });
    const coherence = o.probe ? (await o.probe.measure()).coherence : undefined;
    trainMs += performance.now() - t0;
    hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'evaluating' });
    epoch++;
    const stop = await point(epoch);
    if (!o.stepRowsAtPoints) rowSums = new StepSums();
    const evaluated = o.epochSets ? await epochEvaluation(trainer, o.epochSets, hooks.signal, hooks.gate) : {};
    const row = epochRowOf({ epoch, step, lr, sums: epochSums, evaluated, examplesPerS: done / Math.max(1e-9, trainMs / 1000), elapsedS: elapsed() });
    if (coherence !== undefined) row.coherence = coherence;
    append({ ...row } as Record<string, unknown>);
    await checkpoint(stop);
    hooks.onEpoch?.(row);
    if (stop) return result('stopped');
    if (hooks.stopAfterEpoch !== undefined && epoch >= hooks.stopAfterEpoch && epoch < o.epochs) return result('paused-after-epoch');
  }
  return result('completed');
}

/** A run that cannot start or resume; the message is one line. */
export class LoopError extends Error {
  override name = 'LoopError';
}

/** Awaits the pause gate, keeping paused time out of the timings. */
async function gateOf(hooks: LoopHooks, pausing: () => void, resumed: () => void): Promise<void> {
  const g = hooks.gate?.();
  if (!g) return;
  pausing();
  await g;
  resumed();
}

/** The epoch row (fields in the order metrics.jsonl has always had them). */
function epochRowOf(a: { epoch: number; step: number; lr: number; sums: StepSums; evaluated?: object; examplesPerS: number; elapsedS: number }): EpochRow {
  return {
    kind: 'epoch', epoch: a.epoch, step: a.step, lr: a.lr, run_loss: a.sums.meanLoss, run_acc: a.sums.meanAcc,
    ...a.evaluated, examples_per_s: a.examplesPerS, elapsed_s: a.elapsedS,
  } as EpochRow;
}

/** The whole training split and the test split, evaluated after an epoch (eval mode). */
async function epochEvaluation(trainer: Trainer, sets: NonNullable<LoopOptions['epochSets']>, signal?: AbortSignal, gate?: LoopHooks['gate']) {
  const subsets = sets.subsets ?? [];
  const onTrain = await trainer.evaluate(sets.train, { signal, gate, perExample: subsets.length > 0 });
  const onTest = await trainer.evaluate(sets.test, { signal, gate });
  const row: Record<string, number> = { train_loss: onTrain.loss, train_acc: onTrain.accuracy, test_loss: onTest.loss, test_acc: onTest.accuracy };
  for (const { name, indices } of subsets) {
    const m = subsetMetrics(onTrain.losses!, onTrain.correct!, indices);
    row[`${name}_loss`] = m.loss;
    row[`${name}_acc`] = m.acc;
  }
  return row;
}

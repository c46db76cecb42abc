import type { Gpu } from '../engine/gpu.js';
import type { Trainer } from '../engine/trainer.js';
import type { Rng, RngState } from '../engine/random.js';
import type { BatchIterator, Split } from '../engine/data/dataset.js';
import { learningRate, type ScheduleOptions } from './schedule.js';
import { RunError, type RunFolder } from './run-folder.js';

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

/** Written every `logEvery` steps: the training loss and accuracy of the steps since the last one. */
export interface StepRow { kind: 'step'; epoch: number; step: number; lr: number; loss: number; acc: number; coherence?: number }

export interface TrainLoopOptions {
  gpu: Gpu;
  trainer: Trainer;
  /** Yields the training batches; its generator is `rng`, whose state the checkpoints carry. */
  batches: BatchIterator;
  rng: Rng;
  test: Split;
  epochs: number;
  schedule: ScheduleOptions;
  run: RunFolder;
  /** Steps between step rows in metrics.jsonl; 0 writes epoch rows only. */
  logEvery?: number;
  /**
   * Trainer steps per weight update (serial M3: its K micro-batches, one trainer step each). Each epoch
   * takes a whole number of updates, so an update never spans two epochs.
   */
  stepsPerUpdate?: number;
  /** Measures the gradient coherence of the step just submitted, for step rows and epoch rows. */
  probe?: CoherenceProbe;
  /** Steps between waits for the GPU (keeps the queue short and the progress current). */
  syncEvery?: number;
  onProgress?(epoch: number, examplesDone: number, examplesTotal: number): void;
  onEpoch?(row: EpochRow): void;
  onStep?(row: StepRow): void;
  /** Called with the epoch a resumed run starts from (0 for a fresh run). */
  onStart?(startEpoch: number): void;
  /** Stop after this many epochs have been completed and checkpointed, as if killed (tests). */
  stopAfterEpoch?: number;
}

export interface CoherenceProbe { measure(): Promise<{ coherence: number }> }

export interface TrainLoopResult {
  /** False when stopped early by stopAfterEpoch. */
  completed: boolean;
  /** Epoch rows of the whole run (including those of earlier, resumed attempts). */
  rows: EpochRow[];
}

interface CheckpointMeta { epoch: number; step: number; rng: RngState; elapsed_s: number }

/**
 * The epoch loop behind `cgh train`: seeded batches, the lr schedule, evaluation after each epoch,
 * a metrics row and a checkpoint per epoch, resumption from the last checkpoint, and a clear stop
 * when the loss stops being finite. Bit-identical whether run straight through or resumed.
 */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const { gpu, trainer, batches, run } = o;
  const B = batches.batchSize;
  const syncEvery = o.syncEvery ?? Math.max(1, Math.round(512 / B));
  const logEvery = o.logEvery ?? 0;
  const perUpdate = o.stepsPerUpdate ?? 1;
  const stepsPerEpoch = Math.floor(batches.batchesPerEpoch / perUpdate) * perUpdate;
  if (stepsPerEpoch === 0) throw new RunError(`an epoch of ${batches.batchesPerEpoch} steps holds no whole update of ${perUpdate} steps; use a smaller batch or more examples`);

  let epoch = 0, step = 0, elapsedBefore = 0;
  const ck = run.loadCheckpoint();
  if (ck) {
    const meta = ck.meta as unknown as CheckpointMeta;
    if (!Number.isInteger(meta.epoch) || !Number.isInteger(meta.step) || !meta.rng) {
      throw new RunError(`${run.checkpointFile} lacks the epoch, step or generator state; delete it to restart the run, or choose another --out`);
    }
    try {
      trainer.loadStateTensors(ck.tensors);
    } catch (e) {
      throw new RunError(`cannot resume ${run.dir}: ${(e as Error).message}`);
    }
    o.rng.setState(meta.rng);
    ({ epoch, step } = meta);
    elapsedBefore = meta.elapsed_s ?? 0;
  }
  o.onStart?.(epoch);
  const started = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - started) / 1000;

  while (epoch < o.epochs) {
    const lr = learningRate(o.schedule, epoch);
    const total = stepsPerEpoch * B;
    const t0 = performance.now();
    let done = 0;
    const sums = { loss: 0, right: 0, n: 0 };
    // Reads the GPU's running metrics (a wait), checks them, and folds them into the epoch's sums.
    const take = async () => {
      const m = await trainer.takeMetrics();
      if (m.nonFiniteStep !== null) {
        throw new TrainingError(`the training loss became NaN or infinite at step ${m.nonFiniteStep} (epoch ${epoch + 1}, lr ${lr}); lower the learning rate (e.g. --lr ${+(lr / 10).toPrecision(3)}) and start again with another --out`);
      }
      sums.loss += m.loss * m.examples;
      sums.right += m.accuracy * m.examples;
      sums.n += m.examples;
      return m;
    };
    let sinceLog = 0;
    o.onProgress?.(epoch, 0, total);
    let inEpoch = 0;
    for (const b of batches.epoch()) {
      if (inEpoch++ === stepsPerEpoch) break;
      trainer.step(b.images, b.labels, step, lr);
      step++;
      sinceLog++;
      done += b.size;
      if (logEvery > 0 && step % logEvery === 0) {
        const m = await take();
        const row: StepRow = { kind: 'step', epoch: epoch + 1, step, lr, loss: m.loss, acc: m.accuracy };
        if (o.probe) row.coherence = (await o.probe.measure()).coherence;
        run.appendMetrics({ ...row });
        o.onStep?.(row);
        sinceLog = 0;
        o.onProgress?.(epoch, done, total);
      } else if (sinceLog % syncEvery === 0) {
        await gpu.idle();
        o.onProgress?.(epoch, done, total);
      }
    }
    await take();
    const coherence = o.probe ? (await o.probe.measure()).coherence : undefined;
    o.onProgress?.(epoch, done, total);
    const trainSeconds = (performance.now() - t0) / 1000;
    const onTrain = await trainer.evaluate(batches.split);
    const onTest = await trainer.evaluate(o.test);
    epoch++;
    const row: EpochRow = {
      kind: 'epoch',
      epoch,
      step,
      lr,
      run_loss: sums.loss / Math.max(1, sums.n),
      run_acc: sums.right / Math.max(1, sums.n),
      train_loss: onTrain.loss,
      train_acc: onTrain.accuracy,
      test_loss: onTest.loss,
      test_acc: onTest.accuracy,
      examples_per_s: done / trainSeconds,
      elapsed_s: elapsed(),
    };
    if (coherence !== undefined) row.coherence = coherence;
    run.appendMetrics({ ...row });
    const meta: CheckpointMeta = { epoch, step, rng: o.rng.getState(), elapsed_s: row.elapsed_s };
    run.saveCheckpoint(await trainer.stateTensors(), { ...meta });
    o.onEpoch?.(row);
    if (o.stopAfterEpoch !== undefined && epoch >= o.stopAfterEpoch && epoch < o.epochs) {
      return { completed: false, rows: epochRows(run) };
    }
  }
  const rows = epochRows(run);
  const last = rows[rows.length - 1];
  run.markDone({ epochs: o.epochs, steps: step, elapsed_s: elapsed(), final: last ?? null });
  return { completed: true, rows };
}

export function epochRows(run: RunFolder): EpochRow[] {
  return run.readMetrics().filter((r) => r.kind === 'epoch') as unknown as EpochRow[];
}

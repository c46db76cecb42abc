import type { Gpu } from '../../engine/gpu.js';
import type { Trainer } from '../../engine/trainer.js';
import type { Rng, RngState } from '../../engine/random.js';
import type { BatchIterator, Split } from '../../engine/data/dataset.js';
import { learningRate, type ScheduleOptions } from './schedule.js';
import { RunError, type RunFolder } from './run-folder.js';
import { epochRow, StepSums, takeStepMetrics, type EpochRow } from './epoch.js';

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
    const sums = new StepSums();
    const take = () => takeStepMetrics(trainer, epoch, lr, [sums], (lower) => `lower the learning rate (e.g. --lr ${lower}) and start again with another --out`);
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
    epoch++;
    const row = await epochRow(trainer, { epoch, step, lr, examplesPerS: done / trainSeconds, elapsedS: elapsed }, sums, { train: batches.split, test: o.test });
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

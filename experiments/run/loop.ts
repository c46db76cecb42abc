// The training loop behind cgh train, every experiment's runs and the browser page. No file system here: a
// RunStore (the run folder in Node, memory in the page) keeps the rows and the checkpoint.
import type { Gpu } from '../../engine/gpu.js';
import type { Trainer } from '../../engine/trainer.js';
import type { Rng, RngState } from '../../engine/random.js';
import type { BatchIterator, Split } from '../../engine/data/dataset.js';
import { learningRate, type ScheduleOptions } from './schedule.js';
import { StepSums, type EpochRow, type StepRow } from './rows.js';
import { isPosition, sumsOf, sumsState, type EpochPosition } from './epoch-position.js';
import { subsetMetrics } from './eval-sets.js';

type StateTensor = { name: string; shape: number[]; data: Float32Array };

/** Where a run's rows and checkpoint live. RunFolder is one; the page keeps them in memory. */
export interface RunStore {
  appendMetrics(row: Record<string, unknown>): void;
  readMetrics(): Record<string, unknown>[];
  saveCheckpoint(tensors: StateTensor[], meta: Record<string, unknown>): void;
  /** The last checkpoint, or null; reading it changes nothing. */
  loadCheckpoint(): StoredCheckpoint | null;
  /**
   * Called once the checkpoint (or its absence) has been checked and loaded: the store cuts its rows back to those
   * that existed when it was taken, so that a refused resume changes nothing.
   */
  rewindTo?(checkpoint: StoredCheckpoint | null): void;
}

export interface StoredCheckpoint { tensors: Map<string, { shape: number[]; data: Float32Array }>; meta: Record<string, unknown> }


/**
 * The checkpoint's metadata, the same for every run: epochs finished, steps taken, the batch order's generator at
 * the start of epoch `epoch`, time, `stopped` when a stop criterion ended the run, and `position` when its abort
 * signal stopped it inside epoch `epoch`.
 */
export interface CheckpointMeta {
  epoch: number;
  step: number;
  rng: RngState;
  elapsed_s: number;
  stopped?: boolean;
  position?: EpochPosition;
  /** With a divergence rule: the loss of the first step, and how many logging points in a row were above the limit. */
  initialLoss?: number;
  lossAbove?: number;
}

/**
 * Stops a run whose loss has run away while staying finite: above `factor` times the first step's loss at `points`
 * logging points in a row (step rows and epoch ends).
 */
export interface DivergenceRule { factor: number; points: number }

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
  /** Stop a finite but diverged run (off when absent). */
  divergence?: DivergenceRule;
  hooks?: LoopHooks;
}

export interface EvaluationPoints {
  /** Whether a step inside an epoch is an evaluation point (epoch ends always are). */
  at(step: number, stepsPerEpoch: number): boolean;
  /**
   * Evaluates at `step`; `stop` true ends the run there (a stop criterion met). Stopped by the signal, it appends no
   * row (rows come once every set is evaluated), as it is done again from its start on resume.
   */
  evaluate(step: number, signal?: AbortSignal): Promise<{ stop: boolean }>;
}

export interface LoopHooks {
  /** Called with the epochs finished and steps taken where the run starts (0, 0 for a fresh run), and whether inside an epoch. */
  onStart?(startEpoch: number, startStep: number, insideEpoch: boolean): void;
  onRow?(row: Record<string, unknown>): void;
  onEpoch?(row: EpochRow): void;
  /** Training: examples of the epoch done and its total. Evaluating: examples evaluated of the evaluation's total (0 of 0 as it starts). */
  onProgress?(p: { epoch: number; step: number; examplesDone: number; examplesTotal: number; phase: 'training' | 'evaluating' }): void;
  /** After each wait for the GPU: the steps and training milliseconds since the previous one. May return a new syncEvery. */
  onSync?(steps: number, ms: number): Promise<number | void> | number | void;
  /** Awaited before every step: a pending promise pauses the run there (the page's Stop). */
  gate?(): Promise<void> | void;
  /**
   * Stops the run after the step in flight (at a whole update) or between evaluation batches, with a checkpoint
   * there from which it resumes exactly; the result's status is then 'interrupted'.
   */
  signal?: AbortSignal;
  /** Stop after this many epochs have been completed and checkpointed, as if killed (tests). */
  stopAfterEpoch?: number;
}

export type LoopStatus = 'completed' | 'stopped' | 'paused-after-epoch' | 'diverged' | 'interrupted';

export interface LoopResult {
  status: LoopStatus;
  /** Epochs finished (for 'interrupted': the one it stopped in is epoch + 1). */
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  elapsed_s: number;
  /**
   * A non-finite loss, or with `loss` a finite one above the divergence rule's limit (at the logging point of
   * `step`, over `points` points since `since`): the step, the 0-based epoch and its lr.
   */
  diverged?: { step: number; epoch: number; lr: number; loss?: number; initialLoss?: number; since?: number; points?: number };
}

/**
 * Trains to the last epoch from the store's last checkpoint (or from the start): seeded batches, the lr
 * schedule, step rows, evaluation points, an epoch row and a checkpoint per epoch. Bit-identical whether it
 * runs straight through or is resumed. A non-finite loss ends it with status 'diverged' (callers decide
 * whether that is an error); a stop criterion with 'stopped', after a partial epoch row and a checkpoint; the
 * abort signal with 'interrupted', after a checkpoint of its position inside the epoch.
 */
export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { trainer, batches, store } = o;
  const hooks = o.hooks ?? {};
  const B = batches.batchSize;
  let syncEvery = o.syncEvery ?? Math.max(1, Math.round(512 / B));
  const perUpdate = o.stepsPerUpdate ?? 1;
  const spe = Math.floor(batches.batchesPerEpoch / perUpdate) * perUpdate;
  if (spe === 0) {
    throw new LoopError(`an epoch of ${batches.batchesPerEpoch} steps holds no whole update of ${perUpdate} steps; use a smaller batch or more examples`);
  }

  let epoch = 0, step = 0, elapsedBefore = 0, activeMs = 0;
  let initialLoss: number | undefined, lossAbove = 0, aboveSince = 0;
  let resumeAt: EpochPosition | undefined;
  const ck = store.loadCheckpoint();
  if (ck) {
    const meta = ck.meta as unknown as CheckpointMeta;
    if (!Number.isInteger(meta.epoch) || !Number.isInteger(meta.step) || !meta.rng) {
      throw new LoopError('the checkpoint lacks the epoch, step or generator state; delete it to restart the run');
    }
    checkProgress(meta, o.epochs, spe);
    const own = new Map([...ck.tensors].filter(([name]) => !name.startsWith('records.')));
    try {
      trainer.loadStateTensors(own);
      o.extraState?.load(ck.tensors);
    } catch (e) {
      throw new LoopError(`cannot resume: ${(e as Error).message}`);
    }
    o.rng.setState(meta.rng);
    ({ epoch, step, position: resumeAt } = meta);
    elapsedBefore = meta.elapsed_s ?? 0;
    initialLoss = meta.initialLoss;
    lossAbove = meta.lossAbove ?? 0;
    store.rewindTo?.(ck);
    if (meta.stopped) return { status: 'stopped', epoch, step, stepsPerEpoch: spe, elapsed_s: elapsedBefore };
  }
  if (!ck) store.rewindTo?.(null);
  hooks.onStart?.(epoch, step, resumeAt !== undefined);
  let since = performance.now();
  const tick = () => { const now = performance.now(); activeMs += now - since; since = now; };
  const elapsed = () => { tick(); return elapsedBefore + activeMs / 1000; };
  const append = (row: Record<string, unknown>) => {
    store.appendMetrics({ ...row });
    hooks.onRow?.(row);
  };
  const lrOf = (e: number) => learningRate(o.schedule, e);
  const checkpoint = async (more: Partial<Pick<CheckpointMeta, 'stopped' | 'rng' | 'position'>> = {}) => {
    const tensors = [...(await trainer.stateTensors()), ...(o.extraState?.tensors() ?? [])];
    const meta: CheckpointMeta = { epoch, step, rng: o.rng.getState(), elapsed_s: elapsed(), ...more,
      ...(o.divergence && initialLoss !== undefined ? { initialLoss, lossAbove } : {}) };
    store.saveCheckpoint(tensors, { ...meta });
  };
  const result = (status: LoopStatus, diverged?: LoopResult['diverged']): LoopResult => ({ status, epoch, step, stepsPerEpoch: spe, elapsed_s: elapsed(),
    diverged });
  // Work the abort signal can stop (evaluations): null when it did.
  const orStopped = <T>(work: Promise<T>): Promise<T | null> =>
    work.catch((e) => { if (hooks.signal?.aborted && e === hooks.signal.reason) return null; throw e; });

  let epochSums = new StepSums();
  let rowSums = new StepSums();
  // The running metrics since the last read, into the epoch's and the next step row's sums; null while the loss is
  // finite and (with a divergence rule) not run away.
  const take = async (): Promise<{ step: number; loss?: number; initialLoss?: number; since?: number; points?: number } | null> => {
    const m = await trainer.takeMetrics();
    if (m.nonFiniteStep !== null) return { step: m.nonFiniteStep };
    epochSums.add(m);
    rowSums.add(m);
    const rule = o.divergence;
    if (rule && rule.factor > 0 && initialLoss !== undefined && m.examples > 0) {
      if (m.loss > rule.factor * initialLoss) {
        if (lossAbove++ === 0) aboveSince = step;
      } else {
        lossAbove = 0;
      }
      if (lossAbove >= rule.points) return { step, loss: m.loss, initialLoss, since: aboveSince || undefined, points: lossAbove };
    }
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
  // The stop checkpoint inside the unfinished epoch; a loss that became non-finite before it is a divergence.
  const stopInside = async (at: Omit<EpochPosition, 'epochSums' | 'rowSums' | 'unread'>, epochStart: RngState): Promise<LoopResult> => {
    const unread = await trainer.metricSums();
    const bad = unread[3] > 0 ? await take() : null;
    if (bad !== null) return result('diverged', { ...bad, epoch, lr: lrOf(epoch) });
    await checkpoint({ rng: epochStart, position: { ...at, epochSums: sumsState(epochSums), rowSums: sumsState(rowSums), unread } });
    return result('interrupted');
  };

  if (!ck && o.points) {
    // Stopped here, nothing is lost: the rerun starts afresh.
    const stop = await orStopped(point(0));
    if (stop === null) return result('interrupted');
    if (stop) {
      await checkpoint({ stopped: true });
      return result('stopped');
    }
  }
  while (epoch < o.epochs) {
    const lr = lrOf(epoch);
    const total = spe * B;
    const epochStart = o.rng.getState();
    const from = resumeAt;
    resumeAt = undefined;
    let inEpoch = from?.stepsDone ?? 0, done = from?.examples ?? 0, trainMs = (from?.train_s ?? 0) * 1000, sinceSync = 0;
    let t0 = performance.now();
    epochSums = from ? sumsOf(from.epochSums) : new StepSums();
    if (from) {
      rowSums = sumsOf(from.rowSums);
      trainer.loadMetricSums(from.unread);
    }
    const stopHere = (evaluationDue: boolean, coherence?: number) =>
      stopInside({ stepsDone: inEpoch, evaluationDue, examples: done, train_s: trainMs / 1000, ...(coherence === undefined ? {} : { coherence }) }, epochStart);
    // An evaluation point inside the epoch; a result when the run ends there.
    const pointInside = async (): Promise<LoopResult | null> => {
      const stop = await orStopped(point(epoch + 1));
      if (stop === null) return stopHere(true);
      if (!stop) return null;
      append({ ...epochRowOf({ epoch: step / spe, step, lr, sums: epochSums, examplesPerS: 0, elapsedS: elapsed() }) });
      await checkpoint({ stopped: true });
      return result('stopped');
    };
    hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'training' });
    if (from?.evaluationDue && inEpoch < spe) {
      const ended = await pointInside();
      if (ended) return ended;
    }
    for await (const b of batches.epochInputs(inEpoch)) {
      if (inEpoch === spe) break;
      await gateOf(hooks, () => { trainMs += performance.now() - t0; tick(); }, () => { t0 = performance.now(); since = t0; });
      if (hooks.signal?.aborted && inEpoch % perUpdate === 0) {
        trainMs += performance.now() - t0;
        return stopHere(false);
      }
      trainer.step(b.inputs, b.labels, step, lr);
      step++;
      inEpoch++;
      // The divergence rule's reference: the loss of the very first step, read without disturbing the sums.
      if (step === 1 && o.divergence && initialLoss === undefined) initialLoss = (await trainer.peekMetrics()).loss;
      sinceSync++;
      done += b.size;
      const logNow = (o.logEvery ?? 0) > 0 && step % o.logEvery! === 0;
      const pointNow = inEpoch !== spe && o.points !== undefined && o.points.at(step, spe);
      if (logNow || pointNow) {
        const bad = await take();
        if (bad !== null) return result('diverged', { ...bad, epoch, lr });
        if (logNow && !(pointNow && o.stepRowsAtPoints)) await stepRow(epoch + 1);
        trainMs += performance.now() - t0;
        const ended = pointNow ? await pointInside() : null;
        if (ended) return ended;
        t0 = performance.now();
        hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'training' });
      } else if (sinceSync >= syncEvery) {
        // No number is read here: a CPU adapter's queue is drained; a GPU keeps the steps since the last sync queued.
        await trainer.settle(0);
        const ms = performance.now() - t0;
        trainMs += ms;
        hooks.onProgress?.({ epoch, step, examplesDone: done, examplesTotal: total, phase: 'training' });
        syncEvery = (await hooks.onSync?.(sinceSync, ms)) || syncEvery;
        sinceSync = 0;
        t0 = performance.now();
      }
    }
    const bad = await take();
    if (bad !== null) return result('diverged', { ...bad, epoch, lr });
    const coherence = from?.coherence ?? (o.probe ? (await o.probe.measure()).coherence : undefined);
    trainMs += performance.now() - t0;
    hooks.onProgress?.({ epoch, step, examplesDone: 0, examplesTotal: 0, phase: 'evaluating' });
    const ended = await orStopped((async () => ({
      stop: await point(epoch + 1),
      evaluated: o.epochSets ? await epochEvaluation(trainer, o.epochSets, hooks.signal, hooks.gate,
        (examplesDone, examplesTotal) => hooks.onProgress?.({ epoch, step, examplesDone, examplesTotal, phase: 'evaluating' })) : {},
    }))());
    if (ended === null) return stopHere(true, coherence);
    const { stop, evaluated } = ended;
    if (!o.stepRowsAtPoints) rowSums = new StepSums();
    epoch++;
    const row = epochRowOf({ epoch, step, lr, sums: epochSums, evaluated, examplesPerS: done / Math.max(1e-9, trainMs / 1000), elapsedS: elapsed() });
    if (coherence !== undefined) row.coherence = coherence;
    append({ ...row } as Record<string, unknown>);
    await checkpoint(stop ? { stopped: true } : {});
    hooks.onEpoch?.(row);
    if (stop) return result('stopped');
    if (hooks.stopAfterEpoch !== undefined && epoch >= hooks.stopAfterEpoch && epoch < o.epochs) return result('paused-after-epoch');
  }
  return result('completed');
}

/**
 * A checkpoint's epoch and step must be ones this run can have written: whole, within its epochs, and the step at
 * that epoch's end (or, for a run stopped by its criterion, within the epoch after it; stopped by its signal, at
 * its position inside that epoch).
 */
function checkProgress(meta: CheckpointMeta, epochs: number, spe: number): void {
  const { epoch, step, position } = meta;
  if (position !== undefined && (!isPosition(position, spe) || epoch >= epochs || meta.stopped)) {
    throw new LoopError('the checkpoint\'s position inside its epoch is not one this run can continue from; delete it to restart the run');
  }
  const atEnd = epoch * spe + (position?.stepsDone ?? 0);
  const fits = epoch >= 0 && epoch <= epochs && step >= 0 && (meta.stopped ? step >= atEnd && step <= atEnd + spe : step === atEnd);
  if (!fits) {
    throw new LoopError(`the checkpoint says epoch ${epoch} and step ${step}, which a run of ${epochs} epochs of ${spe} steps never writes; `
      + 'delete it to restart the run');
  }
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
async function epochEvaluation(trainer: Trainer, sets: NonNullable<LoopOptions['epochSets']>, signal?: AbortSignal, gate?: LoopHooks['gate'],
  progress?: (examplesDone: number, examplesTotal: number) => void) {
  const subsets = sets.subsets ?? [];
  const total = sets.train.n + sets.test.n;
  let done = 0;
  const onBatch = (examples: number) => progress?.((done += examples), total);
  const onTrain = await trainer.evaluate(sets.train, { signal, gate, onBatch, perExample: subsets.length > 0 });
  const onTest = await trainer.evaluate(sets.test, { signal, gate, onBatch });
  const row: Record<string, number> = {
    train_loss: onTrain.loss, train_acc: onTrain.accuracy, train_top5: onTrain.top5, test_loss: onTest.loss, test_acc: onTest.accuracy, test_top5: onTest.top5,
  };
  for (const { name, indices } of subsets) {
    const m = subsetMetrics(onTrain.losses!, onTrain.correct!, onTrain.correct5!, indices);
    row[`${name}_loss`] = m.loss;
    row[`${name}_acc`] = m.acc;
  }
  return row;
}

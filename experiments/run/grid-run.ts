import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../../engine/context.js';
import { DataError, type Split } from '../../engine/data/dataset.js';
import { decodeSafetensors, encodeSafetensors, type LoadedTensor } from '../../engine/safetensors.js';
import { writeWeights } from '../../models/weights.js';
import type { RuleName } from '../rules/index.js';
import { NOT_MODEL_STATE, noisyLabels, sampleRngs, setupRun } from './setup.js';
import { RunFolder, RunError } from './run-folder.js';
import type { ModelSettings, OptimizerSettings } from './settings.js';
import type { NoisyLabels } from './label-noise.js';
import { defaultSampleSize, drawEvalSets, gatherExamples, isScheduledStep, subsetMetrics, type EvalSets } from './eval-sets.js';
import { ExampleRecords } from './example-records.js';
import { LoopError, trainLoop } from './loop.js';
import { runFingerprint } from './fingerprint.js';
import type { EpochRow, EvalRow } from './rows.js';
import { writeFileAtomic } from '../files/durable-file.js';
import { UnitActivity } from '../../engine/unit-activity.js';
import type { Gpu } from '../../engine/gpu.js';
import type { Network } from '../../engine/trainer.js';

/**
 * One training run of an experiment: label noise, the evaluation sets evaluated on the dense-early
 * schedule, per-example records, a checkpoint after every epoch, resumption from it, and an optional
 * stop once an evaluation set reaches an accuracy.
 *
 * Run folder: config.json; metrics.jsonl with, per evaluation point, one row per set
 *   {kind: 'eval', step, epoch, set, loss, acc, n}
 * (sets: train = the whole training set when records are taken, train-sample, pristine, corrupt, then
 * the run's extra sets such as test) and, per epoch, {kind: 'epoch', epoch, step, lr, run_loss, run_acc,
 * examples_per_s, elapsed_s} (the last two are timings, every other field is deterministic);
 * checkpoint.safetensors; examples.safetensors (per-example records and labels) and summary.json when done.
 */

/** How an experiment's networks are trained; presets provide these, flags override them. */
export interface TrainSettings extends ModelSettings, OptimizerSettings {
  dataset: string;
  dataDir?: string;
  /** Train on the first N training examples (default: all). */
  trainSize?: number;
  /** Evaluate on a seeded sample of N test examples (default: all). */
  testSize?: number;
  /** N of the pristine, corrupt and training samples (default: scaled from the paper's 50,000 of ImageNet). */
  sampleSize?: number;
  /** Evaluate at the dense early steps (0-9, 10-90, ...) as well as every epoch end. */
  denseEval: boolean;
  /** Per-example records: at every evaluation point, at epoch ends only, or none. */
  records: 'all' | 'epochs' | 'off';
  /** Seed of the network's initialisation and batch order. */
  seed: number;
  /** Seed of the label noise and the evaluation samples, shared by the runs of an experiment. */
  dataSeed: number;
}

/** One run's settings: the experiment's, with the run's own rule, noise and sets. */
export interface RunConfig extends TrainSettings {
  experiment: string;
  run: string;
  rule: RuleName;
  groups: number;
  winsor: number;
  noise: number;
  /** What the training set is when not the dataset's first trainSize examples (name, size and checksum). */
  trainSelection?: { name: string; count: number; checksum: string };
  /** The extra evaluation sets, by name and size. */
  evalSets: { name: string; count: number }[];
  /** Run folder whose final weights initialise this run (relative to the experiment folder). */
  initFrom?: string;
  /**
   * Stop at the first evaluation where this set's accuracy is at least acc. everyStep: evaluate after every
   * update until then (not only on the schedule), so the stop and the per-example first-correct steps have
   * the resolution of one step; it costs an evaluation pass per step, for small training sets.
   */
  stopAt?: { set: string; acc: number; everyStep?: boolean };
}

/** Config keys that may change between a run and its resumption. */
export const RESUMABLE_KEYS = ['evalBatchSize', 'dataDir', 'version'];

export interface RunData {
  /** The training examples with their clean labels. */
  train: Split;
  numClasses: number;
  inputShape: number[];
  /** Evaluated at every point with their own labels (e.g. test). */
  evalSets: { name: string; split: Split }[];
  /** Initial weights by parameter name (anti-adversarial initialisation). */
  initWeights?: Map<string, LoadedTensor>;
}

export type { EpochRow, EvalRow };
export type MetricRow = EvalRow | EpochRow;

export type RunStatus = 'completed' | 'stopped' | 'not-reached' | 'diverged';

export interface RunSummary {
  status: RunStatus;
  steps: number;
  stepsPerEpoch: number;
  /** Epochs trained (fractional when stopped mid-epoch). */
  epochs: number;
  /** Latest accuracy and loss of every set. */
  final: Record<string, { loss: number; acc: number; n: number }>;
  /** Where the stop criterion was met (status 'stopped'). */
  stop?: { set: string; acc: number; step: number; epoch: number };
  divergedAtStep?: number;
  elapsed_s: number;
  /** Hidden ReLU units that never fire on any of `examples` training images at the end (absent without ReLU layers or after divergence). */
  deadFraction?: number;
  deadUnits?: { dead: number; units: number; examples: number; layers: { layer: number; dead: number; units: number }[] };
}

export interface RunResult {
  dir: string;
  config: RunConfig;
  summary: RunSummary;
  rows: MetricRow[];
  noisy: NoisyLabels;
  records: ExampleRecords | null;
  /** True when this call found the run already finished. */
  skipped: boolean;
}

export interface RunHooks {
  /** After every metrics row is appended (tests throw here to simulate a kill). */
  onRow?(row: MetricRow): void;
  onEpoch?(row: EpochRow, evals: EvalRow[]): void;
  /** Where the run starts: epochs finished and steps taken (0, 0 when fresh). */
  onStart?(resumedFromEpoch: number, resumedFromStep: number, insideEpoch: boolean): void;
  /**
   * Checked before every step and between evaluation batches: the run stops there with a checkpoint from which it
   * resumes exactly, and executeRun rejects with a RunInterrupted.
   */
  signal?: AbortSignal;
}

/** A run stopped by its abort signal and checkpointed there; the message names where and the signal's reason. */
export class RunInterrupted extends Error {
  override name = 'RunInterrupted';
  /** The epoch it stopped in (1-based) and the steps it had taken. */
  constructor(readonly run: string, readonly epoch: number, readonly step: number, reason: unknown) {
    super(`run ${run} stopped at epoch ${epoch} step ${step} (${reason instanceof Error ? reason.message : String(reason)})`, { cause: reason });
  }
}

/** A run that cannot go on; the message is one line. */
export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

const EXAMPLES = 'examples.safetensors';

/** A short, stable checksum of indices (FNV-1a), so a resumed run can check it trains on the same examples. */
export function checksum(values: Int32Array | Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < values.length; i++) {
    let v = values[i] >>> 0;
    for (let b = 0; b < 4; b++) {
      h ^= v & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      v >>>= 8;
    }
  }
  return h.toString(16).padStart(8, '0');
}

/** The label noise and evaluation samples a config implies (deterministic; no GPU). */
export function runLabels(config: RunConfig, data: RunData): { noisy: NoisyLabels; sets: EvalSets } {
  const noisy = noisyLabels(data.train.labels, config.noise, data.numClasses, config.dataSeed);
  const sets = drawEvalSets(noisy, config.sampleSize ?? defaultSampleSize(data.train.n), sampleRngs(config.dataSeed).train);
  return { noisy, sets };
}

/**
 * Runs (or resumes, or just reads back) one run in `dir` through the training loop. Every config key except
 * RESUMABLE_KEYS must match what the folder holds.
 */
export async function executeRun(dir: string, config: RunConfig, data: RunData, hooks: RunHooks = {}): Promise<RunResult> {
  checkConfig(config, data);
  const fingerprint = runFingerprint(config as unknown as Record<string, unknown>, RESUMABLE_KEYS, [data.train, ...data.evalSets.map((e) => e.split)]);
  const run = RunFolder.open(dir, config as unknown as Record<string, unknown>, { resume: true, ignoreKeys: RESUMABLE_KEYS, fingerprint });
  const { noisy, sets } = runLabels(config, data);
  if (run.isDone()) return finishedRun(run, config, noisy);

  const n = data.train.n;
  const spe = Math.floor(n / config.batchSize);
  if (spe < 1) throw new DataError(`batch size ${config.batchSize} is larger than the ${n} training examples; use --batch-size ${n} or less`);
  const gpu = await getGpu();
  const setup = setupRun(gpu, data, { ...config, m3Mode: 'one-pass' });
  const { trainer, model } = setup;
  const trainNoisy = setup.train;
  if (data.initWeights && !fs.existsSync(run.checkpointFile)) {
    writeWeights(gpu, model, data.initWeights, config.initFrom ?? 'the initial weights', NOT_MODEL_STATE);
  }
  const records = config.records === 'off' ? null : new ExampleRecords(n);
  const sampleSplits = records && config.records === 'all' ? null : {
    'train-sample': gatherExamples(data.train, sets.trainSample, noisy.labels),
    pristine: gatherExamples(data.train, sets.pristine, noisy.labels),
    corrupt: gatherExamples(data.train, sets.corrupt, noisy.labels),
  };
  let stop: RunSummary['stop'];
  let lastEvals: EvalRow[] = [];
  const append = (row: MetricRow) => {
    run.appendMetrics({ ...row });
    hooks.onRow?.(row);
  };

  // Evaluates every set at `at`, then (so that a stop in between leaves no trace) appends their rows, updates the
  // records and notes whether the stop criterion is met.
  const evaluateAt = async (at: number, signal?: AbortSignal): Promise<{ stop: boolean }> => {
    const out: EvalRow[] = [];
    const push = (set: string, m: { loss: number; acc: number; top5: number; n: number }) => {
      if (m.n > 0) out.push({ kind: 'eval', step: at, epoch: at / spe, set, loss: m.loss, acc: m.acc, top5: m.top5, n: m.n });
    };
    const full = records && (config.records === 'all' || at % spe === 0);
    let correct: Uint8Array | undefined;
    if (full) {
      const ev = await trainer.evaluate(trainNoisy, { perExample: true, signal });
      correct = ev.correct!;
      push('train', { loss: ev.loss, acc: ev.accuracy, top5: ev.top5, n });
      push('train-sample', subsetMetrics(ev.losses!, ev.correct!, ev.correct5!, sets.trainSample));
      push('pristine', subsetMetrics(ev.losses!, ev.correct!, ev.correct5!, sets.pristine));
      push('corrupt', subsetMetrics(ev.losses!, ev.correct!, ev.correct5!, sets.corrupt));
    } else {
      // Without records at this point (records off, or only at epoch ends): the gathered samples.
      for (const [name, split] of Object.entries(sampleSplits!)) {
        if (split.n === 0) continue;
        const ev = await trainer.evaluate(split, { signal });
        push(name, { loss: ev.loss, acc: ev.accuracy, top5: ev.top5, n: split.n });
      }
    }
    for (const { name, split } of data.evalSets) {
      const ev = await trainer.evaluate(split, { signal });
      push(name, { loss: ev.loss, acc: ev.accuracy, top5: ev.top5, n: split.n });
    }
    if (correct) records!.update(at, correct);
    for (const row of out) append(row);
    const s = config.stopAt;
    if (s && !stop) {
      const hit = out.find((r) => r.set === s.set);
      if (hit && hit.acc >= s.acc) stop = { set: s.set, acc: hit.acc, step: at, epoch: at / spe };
    }
    lastEvals = out;
    return { stop: stop !== undefined };
  };

  const result = await trainLoop({
    gpu, trainer, batches: setup.batches, rng: setup.batchRng, epochs: config.epochs, schedule: config, store: run,
    points: { at: (step, perEpoch) => config.stopAt?.everyStep === true || isScheduledStep(step, perEpoch, config.denseEval), evaluate: evaluateAt },
    extraState: records ? {
      tensors: () => records.toTensors(),
      load: (tensors) => { if (!records.loadTensors(tensors)) throw new Error('the checkpoint holds no per-example records'); },
    } : undefined,
    hooks: {
      onStart: hooks.onStart,
      onRow: (row) => { if (row.kind === 'epoch') hooks.onRow?.(row as unknown as MetricRow); },
      onEpoch: (row) => hooks.onEpoch?.(row as unknown as EpochRow, lastEvals),
      signal: hooks.signal,
    },
  }).catch((e) => {
    if (e instanceof LoopError) throw new RunError(`cannot resume ${dir}: ${e.message}`);
    throw e;
  });

  if (result.status === 'interrupted') throw new RunInterrupted(config.run, result.epoch + 1, result.step, hooks.signal?.reason);
  if (result.status === 'stopped' && !stop) {
    // Stopped in an earlier attempt: the stop is read back from the rows.
    const s = config.stopAt!;
    const hit = [...(run.readMetrics() as unknown as MetricRow[])].reverse().find((r): r is EvalRow => r.kind === 'eval' && r.set === s.set && r.acc >= s.acc);
    if (hit) stop = { set: s.set, acc: hit.acc, step: hit.step, epoch: hit.epoch };
  }
  if (records) writeExamples(path.join(dir, EXAMPLES), records, noisy);
  const all = run.readMetrics() as unknown as MetricRow[];
  const status: RunStatus = result.status === 'diverged' ? 'diverged' : result.status === 'stopped' ? 'stopped' : config.stopAt ? 'not-reached' : 'completed';
  const summary: RunSummary = { status, steps: result.step, stepsPerEpoch: spe, epochs: result.step / spe, final: finalOf(all), elapsed_s: result.elapsed_s };
  if (result.diverged) summary.divergedAtStep = result.diverged.step;
  if (stop) summary.stop = stop;
  if (!result.diverged) Object.assign(summary, await deadUnits(gpu, model, data.train, sets.trainSample, config.evalBatchSize));
  run.markDone(summary as unknown as Record<string, unknown>);
  return { dir, config, summary, rows: all, noisy, records, skipped: false };
}

/** Above this many training images the dead-unit count runs over the training sample instead of all of them. */
const DEAD_UNIT_EXAMPLES = 60_000;

/**
 * The final dead-unit count (momentum at a large step can silence hidden units for good, and then a
 * comparison measures dead units, not the paper's question): ReLU units that never fire on a training image.
 */
async function deadUnits(gpu: Gpu, model: Network, train: Split, sample: Int32Array, evalBatchSize: number): Promise<Partial<RunSummary>> {
  const images = train.n <= DEAD_UNIT_EXAMPLES ? train : gatherExamples(train, sample);
  const r = await new UnitActivity(gpu, model, Math.max(1, Math.min(evalBatchSize, images.n))).measure(images);
  if (r.units === 0) return {};
  const layers = r.layers.map((l) => ({ layer: l.layer, dead: l.dead, units: l.units }));
  return { deadFraction: r.deadFraction, deadUnits: { dead: r.dead, units: r.units, examples: images.n, layers } };
}

function checkConfig(config: RunConfig, data: RunData): void {
  if (config.trainSelection && config.trainSelection.count !== data.train.n) {
    throw new ExperimentError(`run ${config.run}: the training selection has ${data.train.n} examples, its config says ${config.trainSelection.count}`);
  }
  if (config.stopAt && config.stopAt.set === 'train' && config.records === 'off') {
    throw new ExperimentError(`run ${config.run} stops on the whole training set's accuracy, which needs per-example records; use --records all or epochs`);
  }
}

/** The tensors of a finished run's last checkpoint, from which matchWeights takes the model's weights. */
export function readFinalWeights(runDir: string): Map<string, LoadedTensor> {
  const file = path.join(runDir, 'checkpoint.safetensors');
  if (!fs.existsSync(file)) throw new ExperimentError(`${runDir} has no checkpoint to initialise from; run it first`);
  return decodeSafetensors(fs.readFileSync(file), file).tensors;
}

function finalOf(rows: MetricRow[]): RunSummary['final'] {
  const out: RunSummary['final'] = {};
  for (const r of rows) if (r.kind === 'eval') out[r.set] = { loss: r.loss, acc: r.acc, n: r.n };
  return out;
}

function finishedRun(run: RunFolder, config: RunConfig, noisy: NoisyLabels): RunResult {
  const summary = JSON.parse(fs.readFileSync(path.join(run.dir, 'summary.json'), 'utf8')) as RunSummary;
  const rows = run.readMetrics() as unknown as MetricRow[];
  const file = path.join(run.dir, EXAMPLES);
  const records = config.records !== 'off' && fs.existsSync(file) ? readExamples(file) : null;
  return { dir: run.dir, config, summary, rows, noisy, records, skipped: true };
}

/** examples.safetensors: first_step, last_step (I32, -1 = never), label, original_label (I32), corrupt (U8). */
function writeExamples(file: string, records: ExampleRecords, noisy: NoisyLabels): void {
  const n = records.n;
  const bytes = encodeSafetensors([
    { name: 'first_step', shape: [n], data: records.first },
    { name: 'last_step', shape: [n], data: records.last },
    { name: 'label', shape: [n], data: noisy.labels },
    { name: 'original_label', shape: [n], data: noisy.original },
    { name: 'corrupt', shape: [n], data: noisy.corrupt, dtype: 'U8' },
  ], { latest_step: String(records.latestStep) });
  writeFileAtomic(file, bytes);
}

export function readExamples(file: string): ExampleRecords {
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(file), file);
  const first = tensors.get('first_step')?.data, last = tensors.get('last_step')?.data;
  if (!(first instanceof Int32Array) || !(last instanceof Int32Array) || first.length !== last.length) {
    throw new RunError(`${file} lacks the per-example records; delete its run folder to run it again`);
  }
  const r = new ExampleRecords(first.length);
  r.first.set(first);
  r.last.set(last);
  r.latestStep = Number(metadata.latest_step ?? -1);
  return r;
}

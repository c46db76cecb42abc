import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { BatchIterator, DataError, type Split } from '../engine/data/dataset.js';
import { decodeSafetensors, encodeSafetensors, type LoadedTensor } from '../engine/safetensors.js';
import type { Model } from '../models/model.js';
import { createModel } from '../models/registry.js';
import { writeWeights } from '../models/weights.js';
import { createRule, type RuleName } from './rules/index.js';
import { RunFolder, RunError } from './run-folder.js';
import { learningRate, type ScheduleName } from './schedule.js';
import { applyLabelNoise, type NoisyLabels } from './label-noise.js';
import { defaultSampleSize, drawEvalSets, gatherExamples, isScheduledStep, subsetMetrics, type EvalSets } from './eval-sets.js';
import { ExampleRecords } from './example-records.js';
import { StepSums } from './epoch.js';
import { writeFileAtomic } from './files/durable-file.js';

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

/** How the network is trained; presets provide these, flags override them. */
export interface TrainSettings {
  dataset: string;
  dataDir?: string;
  /** Train on the first N training examples (default: all). */
  trainSize?: number;
  /** Evaluate on a seeded sample of N test examples (default: all). */
  testSize?: number;
  model: string;
  hidden: number[];
  width?: number;
  init: 'pytorch' | 'glorot-cg';
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  schedule: ScheduleName;
  stepSize: number;
  /** Epochs at which the rate is divided by 10 (overrides schedule when non-empty). */
  milestones?: number[];
  epochs: number;
  momentum: number;
  weightDecay: number;
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
  /** Stop at the first evaluation where this set's accuracy is at least acc. */
  stopAt?: { set: string; acc: number };
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

export interface EvalRow { kind: 'eval'; step: number; epoch: number; set: string; loss: number; acc: number; n: number }
export interface EpochRow { kind: 'epoch'; epoch: number; step: number; lr: number; run_loss: number; run_acc: number; examples_per_s: number; elapsed_s: number }
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
  onStart?(resumedFromEpoch: number): void;
}

/** A run that cannot go on; the message is one line. */
export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

const EXAMPLES = 'examples.safetensors';

export function stepsPerEpochOf(n: number, batchSize: number): number {
  const s = Math.floor(n / batchSize);
  if (s < 1) throw new DataError(`batch size ${batchSize} is larger than the ${n} training examples; use --batch-size ${n} or less`);
  return s;
}

/** Learning rate of a 0-based epoch: milestones when given, the named schedule otherwise. */
export function lrAt(s: TrainSettings, epoch: number): number {
  if (s.milestones && s.milestones.length > 0) return s.lr * Math.pow(0.1, s.milestones.filter((m) => epoch >= m).length);
  return learningRate({ schedule: s.schedule, lr: s.lr, epochs: s.epochs, stepSize: s.stepSize }, epoch);
}

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
  const noisy = applyLabelNoise(data.train.labels, config.noise, data.numClasses, new Rng(config.dataSeed * 2 + 1));
  const sets = drawEvalSets(noisy, config.sampleSize ?? defaultSampleSize(data.train.n), new Rng(config.dataSeed * 2 + 2));
  return { noisy, sets };
}

/** Builds the network of a config. */
export function buildNetwork(config: RunConfig, data: RunData): Model {
  return createModel(config.model, {
    inputShape: data.inputShape, numClasses: data.numClasses, width: config.width, hidden: config.hidden, init: config.init, rng: new Rng(config.seed),
  });
}

/**
 * Runs (or resumes, or just reads back) one run in `dir`. Every config key except RESUMABLE_KEYS must
 * match what the folder holds.
 */
export async function executeRun(dir: string, config: RunConfig, data: RunData, hooks: RunHooks = {}): Promise<RunResult> {
  checkConfig(config, data);
  const run = RunFolder.open(dir, config as unknown as Record<string, unknown>, { resume: true, ignoreKeys: RESUMABLE_KEYS });
  const { noisy, sets } = runLabels(config, data);
  if (run.isDone()) return finishedRun(run, config, noisy);

  const n = data.train.n;
  const B = config.batchSize;
  const spe = stepsPerEpochOf(n, B);
  const trainNoisy: Split = { images: data.train.images, labels: noisy.labels, n };
  const gpu = await getGpu();
  const model = buildNetwork(config, data);
  const transform = createRule({ rule: config.rule, groups: config.groups, winsor: config.winsor, m3Mode: 'one-pass', batchSize: B, momentum: config.momentum });
  const trainer = new Trainer(gpu, model, { batchSize: B, evalBatchSize: config.evalBatchSize, sgd: { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay }, transform });
  const records = config.records === 'off' ? null : new ExampleRecords(n);
  const sampleSplits = records && config.records === 'all' ? null : {
    'train-sample': gatherExamples(data.train, sets.trainSample, noisy.labels),
    pristine: gatherExamples(data.train, sets.pristine, noisy.labels),
    corrupt: gatherExamples(data.train, sets.corrupt, noisy.labels),
  };

  let epoch = 0, step = 0, elapsedBefore = 0, stopped = false;
  const ck = run.loadCheckpoint();
  if (ck) {
    const meta = ck.meta as { epoch?: number; step?: number; elapsed_s?: number; stopped?: boolean };
    if (!Number.isInteger(meta.epoch) || !Number.isInteger(meta.step)) throw new RunError(`${run.checkpointFile} lacks the epoch or step; delete the run folder ${dir} to restart it`);
    const own = new Map([...ck.tensors].filter(([name]) => !ExampleRecords.isRecordTensor(name)));
    try {
      trainer.loadStateTensors(own);
      if (records && !records.loadTensors(ck.tensors)) throw new Error('the checkpoint holds no per-example records');
    } catch (e) {
      throw new RunError(`cannot resume ${dir}: ${(e as Error).message}`);
    }
    epoch = meta.epoch!;
    step = meta.step!;
    elapsedBefore = meta.elapsed_s ?? 0;
    stopped = meta.stopped === true;
  } else if (data.initWeights) {
    writeWeights(trainer.gpu, model, data.initWeights, config.initFrom ?? 'the initial weights');
  }
  hooks.onStart?.(epoch);
  const started = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - started) / 1000;
  const append = (row: MetricRow) => {
    run.appendMetrics({ ...row });
    hooks.onRow?.(row);
  };
  let stop: RunSummary['stop'];

  // Evaluates every set at `at`, appends their rows, updates the records and notes whether the stop criterion is met.
  const evaluateAt = async (at: number): Promise<EvalRow[]> => {
    const out: EvalRow[] = [];
    const push = (set: string, m: { loss: number; acc: number; n: number }) => {
      if (m.n === 0) return;
      const row: EvalRow = { kind: 'eval', step: at, epoch: at / spe, set, loss: m.loss, acc: m.acc, n: m.n };
      append(row);
      out.push(row);
    };
    const full = records && (config.records === 'all' || at % spe === 0);
    if (full) {
      const ev = await trainer.evaluate(trainNoisy, { perExample: true });
      records!.update(at, ev.correct!);
      push('train', { loss: ev.loss, acc: ev.accuracy, n });
      push('train-sample', subsetMetrics(ev.losses!, ev.correct!, sets.trainSample));
      push('pristine', subsetMetrics(ev.losses!, ev.correct!, sets.pristine));
      push('corrupt', subsetMetrics(ev.losses!, ev.correct!, sets.corrupt));
    } else {
      // Without records at this point (records off, or only at epoch ends): the gathered samples.
      for (const [name, split] of Object.entries(sampleSplits!)) {
        if (split.n === 0) continue;
        const ev = await trainer.evaluate(split);
        push(name, { loss: ev.loss, acc: ev.accuracy, n: split.n });
      }
    }
    for (const { name, split } of data.evalSets) {
      const ev = await trainer.evaluate(split);
      push(name, { loss: ev.loss, acc: ev.accuracy, n: split.n });
    }
    const s = config.stopAt;
    if (s && !stop) {
      const hit = out.find((r) => r.set === s.set);
      if (hit && hit.acc >= s.acc) stop = { set: s.set, acc: hit.acc, step: at, epoch: at / spe };
    }
    return out;
  };

  const saveCheckpoint = async (meta: Record<string, unknown>) => {
    const tensors = [...(await trainer.stateTensors()), ...(records ? records.toTensors() : [])];
    run.saveCheckpoint(tensors, { epoch, step, elapsed_s: elapsed(), ...meta });
  };

  const finish = (status: RunStatus, extra: Partial<RunSummary> = {}): RunResult => {
    if (records) writeExamples(path.join(dir, EXAMPLES), records, noisy);
    const all = run.readMetrics() as unknown as MetricRow[];
    const summary: RunSummary = { status, steps: step, stepsPerEpoch: spe, epochs: step / spe, final: finalOf(all), elapsed_s: elapsed(), ...extra };
    if (stop) summary.stop = stop;
    run.markDone(summary as unknown as Record<string, unknown>);
    return { dir, config, summary, rows: all, noisy, records, skipped: false };
  };

  if (stopped) {
    const all = run.readMetrics() as unknown as MetricRow[];
    const s = config.stopAt!;
    const hit = [...all].reverse().find((r): r is EvalRow => r.kind === 'eval' && r.set === s.set && r.acc >= s.acc);
    if (hit) stop = { set: s.set, acc: hit.acc, step: hit.step, epoch: hit.epoch };
    return finish('stopped');
  }
  if (!ck) {
    await evaluateAt(0);
    if (stop) { await saveCheckpoint({ stopped: true }); return finish('stopped'); }
  }

  const syncEvery = Math.max(1, Math.round(512 / B));
  let sums = new StepSums();
  // A diverged run is a result here (status 'diverged'), not an error.
  const take = async (): Promise<number | null> => {
    const m = await trainer.takeMetrics();
    sums.add(m);
    return m.nonFiniteStep;
  };
  while (epoch < config.epochs) {
    const lr = lrAt(config, epoch);
    const batches = new BatchIterator(trainNoisy, B, new Rng(epochSeed(config.seed, epoch)));
    sums = new StepSums();
    const t0 = performance.now();
    let evalSeconds = 0;
    for (const b of batches.epoch()) {
      trainer.step(b.images, b.labels, step, lr);
      step++;
      if (step % spe !== 0 && isScheduledStep(step, spe, config.denseEval)) {
        const bad = await take();
        if (bad !== null) return finish('diverged', { divergedAtStep: bad });
        const e0 = performance.now();
        await evaluateAt(step);
        evalSeconds += (performance.now() - e0) / 1000;
        if (stop) {
          appendEpochRow(step / spe, lr, sums, 0, elapsed());
          await saveCheckpoint({ stopped: true });
          return finish('stopped');
        }
      } else if (step % syncEvery === 0) {
        await gpu.idle();
      }
    }
    const bad = await take();
    if (bad !== null) return finish('diverged', { divergedAtStep: bad });
    const trainSeconds = (performance.now() - t0) / 1000 - evalSeconds;
    epoch++;
    const evals = await evaluateAt(step);
    const row = appendEpochRow(epoch, lr, sums, sums.n / Math.max(1e-9, trainSeconds), elapsed());
    await saveCheckpoint(stop ? { stopped: true } : {});
    hooks.onEpoch?.(row, evals);
    if (stop) return finish('stopped');
  }
  return finish(config.stopAt ? 'not-reached' : 'completed');

  function appendEpochRow(e: number, lr: number, s: StepSums, rate: number, el: number): EpochRow {
    const row: EpochRow = { kind: 'epoch', epoch: e, step, lr, run_loss: s.meanLoss, run_acc: s.meanAcc, examples_per_s: rate, elapsed_s: el };
    append(row);
    return row;
  }
}

/** Seed of an epoch's batch order: a fresh generator per epoch, so resuming needs no generator state. */
function epochSeed(seed: number, epoch: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0;
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

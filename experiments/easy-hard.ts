import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../engine/safetensors.js';
import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import { checksum, ExperimentError, type RunData, type RunResult } from './experiment-run.js';
import { gatherExamples } from './eval-sets.js';
import { plainRunData } from './label-noise-experiment.js';
import { writeFileAtomic } from './files/durable-file.js';

/**
 * Easy and hard examples (Sections 4.2 and 4.4, Figure 4): train with SGD until the whole training set's
 * accuracy first reaches a threshold (paper: 50%, after about 2 epochs of ImageNet); the examples
 * classified correctly at that evaluation are easy, the rest hard. From each, disjoint train and test
 * splits are drawn (paper: 500K and 100K of each); a network is trained from scratch on e-train and on
 * h-train and evaluated on e-test, h-test and the original test set. The e-test and h-test sets are
 * training images, as in the paper.
 */
export interface EasyHardOptions {
  threshold: number;
  easyTrain?: number;
  easyTest?: number;
  hardTrain?: number;
  hardTest?: number;
}

export const EASY_HARD_DEFAULTS: EasyHardOptions = { threshold: 0.5 };

export interface SplitSizes { easyTrain: number; easyTest: number; hardTrain: number; hardTest: number }
export interface Splits { eTrain: Int32Array; eTest: Int32Array; hTrain: Int32Array; hTest: Int32Array }

export const SPLITS_FILE = 'splits.safetensors';

export function validateThreshold(t: number, what = '--threshold'): void {
  if (!Number.isFinite(t) || t <= 0 || t >= 1) throw new ExperimentError(`${what} ${t} must be a training accuracy strictly between 0 and 1 (e.g. 0.5 for 50%)`);
}

/** Easy: correct at the threshold evaluation; hard: the rest (indices ascending). */
export function classifyEasyHard(correct: Uint8Array): { easy: Int32Array; hard: Int32Array } {
  const easy: number[] = [], hard: number[] = [];
  correct.forEach((c, i) => (c ? easy : hard).push(i));
  return { easy: Int32Array.from(easy), hard: Int32Array.from(hard) };
}

/** The paper's proportions: of the smaller group, 5/6 for training and 1/6 for testing (500K + 100K). */
export function defaultSplitSizes(nEasy: number, nHard: number, given: Partial<SplitSizes> = {}): SplitSizes {
  const m = Math.min(nEasy, nHard);
  const train = Math.floor((m * 5) / 6);
  return { easyTrain: given.easyTrain ?? train, easyTest: given.easyTest ?? m - train, hardTrain: given.hardTrain ?? train, hardTest: given.hardTest ?? m - train };
}

export function validateSplitSizes(s: SplitSizes, nEasy: number, nHard: number): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new ExperimentError(`split size ${flag(k)} ${v} must be a whole number of at least 1`);
  }
  if (s.easyTrain + s.easyTest > nEasy) {
    throw new ExperimentError(`--easy-train ${s.easyTrain} plus --easy-test ${s.easyTest} is more than the ${nEasy} easy examples; ask for at most ${nEasy} together`);
  }
  if (s.hardTrain + s.hardTest > nHard) {
    throw new ExperimentError(`--hard-train ${s.hardTrain} plus --hard-test ${s.hardTest} is more than the ${nHard} hard examples; ask for at most ${nHard} together`);
  }
}

function flag(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Disjoint seeded train/test draws from the easy and the hard examples (each ascending). */
export function drawSplits(easy: Int32Array, hard: Int32Array, s: SplitSizes, rng: Rng): Splits {
  const pick = (from: Int32Array, a: number, b: number) => {
    const order = rng.permutation(from.length);
    const take = (start: number, count: number) => Int32Array.from(order.subarray(start, start + count), (k) => from[k]).sort();
    return [take(0, a), take(a, b)];
  };
  const [eTrain, eTest] = pick(easy, s.easyTrain, s.easyTest);
  const [hTrain, hTest] = pick(hard, s.hardTrain, s.hardTest);
  return { eTrain, eTest, hTrain, hTest };
}

/**
 * Trains with the experiment's settings (SGD, clean labels) until the whole training set reaches
 * `threshold`, and returns which examples were correct then. Not reaching it within `budget` epochs is an
 * error; the run stays in its folder.
 */
export async function thresholdRun(exp: Experiment, data: ExperimentData, name: string, seed: number, threshold: number, budget: number): Promise<{ result: RunResult; correct: Uint8Array }> {
  const runData = plainRunData(data);
  const config = exp.config(name, { seed, epochs: budget, records: 'all', stopAt: { set: 'train', acc: threshold } }, runData);
  const result = await exp.run(config, runData);
  if (result.summary.status !== 'stopped') {
    const reached = Math.max(0, ...result.rows.filter((r) => r.kind === 'eval' && r.set === 'train').map((r) => (r as { acc: number }).acc));
    const why = result.summary.status === 'diverged' ? `diverged at step ${result.summary.divergedAtStep}` : `reached at most ${(reached * 100).toFixed(1)}% training accuracy in ${budget} epochs`;
    throw new ExperimentError(`the threshold run ${result.dir} ${why}, short of --threshold ${threshold}; raise --threshold-epochs (with another --out) or lower --threshold`);
  }
  if (!result.records) throw new ExperimentError(`${result.dir} has no per-example records (examples.safetensors); delete that run folder to run it again`);
  return { result, correct: result.records.correctAtLatest() };
}

export function writeSplits(file: string, s: Splits, meta: Record<string, string>): void {
  const bytes = encodeSafetensors([
    { name: 'e_train', shape: [s.eTrain.length], data: s.eTrain },
    { name: 'e_test', shape: [s.eTest.length], data: s.eTest },
    { name: 'h_train', shape: [s.hTrain.length], data: s.hTrain },
    { name: 'h_test', shape: [s.hTest.length], data: s.hTest },
  ], meta);
  writeFileAtomic(file, bytes);
}

export function readSplits(file: string): { splits: Splits; meta: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(file), file);
  const get = (k: string) => {
    const t = tensors.get(k)?.data;
    if (!(t instanceof Int32Array)) throw new ExperimentError(`${file} lacks ${k}; delete it to draw the splits again`);
    return t;
  };
  return { splits: { eTrain: get('e_train'), eTest: get('e_test'), hTrain: get('h_train'), hTest: get('h_test') }, meta: metadata };
}

export interface EasyHardResult {
  threshold: RunResult;
  nEasy: number;
  nHard: number;
  splits: Splits;
  easy: RunResult;
  hard: RunResult;
  full: RunResult;
}

export async function easyHardExperiment(exp: Experiment, data: ExperimentData, o: EasyHardOptions, thresholdEpochs: number): Promise<EasyHardResult> {
  validateThreshold(o.threshold);
  const { result: threshold, correct } = await thresholdRun(exp, data, 'threshold', exp.spec.settings.seed, o.threshold, thresholdEpochs);
  const { easy, hard } = classifyEasyHard(correct);
  const sizes = defaultSplitSizes(easy.length, hard.length, o);
  validateSplitSizes(sizes, easy.length, hard.length);
  const splits = drawSplits(easy, hard, sizes, new Rng(exp.spec.settings.dataSeed * 2 + 5));
  writeSplits(path.join(exp.root, SPLITS_FILE), splits, { easy: String(easy.length), hard: String(hard.length) });

  const sets = {
    'e-test': gatherExamples(data.train, splits.eTest),
    'h-test': gatherExamples(data.train, splits.hTest),
    test: data.test,
  };
  const evalSets = Object.entries(sets).map(([name, split]) => ({ name, split }));
  const trainOn = async (name: string, idx: Int32Array, selection: string) => {
    const runData: RunData = { train: gatherExamples(data.train, idx), numClasses: data.numClasses, inputShape: data.inputShape, evalSets };
    return exp.run(exp.config(name, { trainSelection: { name: selection, count: idx.length, checksum: checksum(idx) } }, runData), runData);
  };
  const easyRun = await trainOn('easy', splits.eTrain, 'e-train');
  const hardRun = await trainOn('hard', splits.hTrain, 'h-train');
  const fullData = plainRunData(data);
  const full = await exp.run(exp.config('full', {}, fullData), fullData);
  return { threshold, nEasy: easy.length, nHard: hard.length, splits, easy: easyRun, hard: hardRun, full };
}

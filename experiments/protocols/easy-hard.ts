import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../../engine/safetensors.js';
import { checksum, ExperimentError, type RunData } from '../run/grid-run.js';
import { gatherExamples } from '../run/eval-sets.js';
import { easyHardSection } from '../report/easy-hard.js';
import { writeFileAtomic } from '../files/durable-file.js';
import { defineProtocol, trainingSetRun, type GridContext, type PlannedRun } from './protocol.js';
import { budgetFlag, parseFraction, percentList, validateThreshold } from './option-flags.js';
import { splitAtThreshold, splitAtThresholdPerClass } from './easy-hard-threshold.js';

/**
 * Easy and hard examples (Sections 4.2 and 4.4, Figure 4): train with SGD until the whole training set's
 * accuracy first reaches a threshold (paper: 50%, after about 2 epochs of ImageNet). Easy are the
 * threshold's fraction of examples learned first (ranked by first-correct step, so the easy fraction is the
 * threshold to the example; --split per-class takes that fraction of every class, --split evaluation the
 * examples correct at the evaluation that passed the threshold, which overshoots). From each, disjoint train and test
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
  /** Epoch budget for reaching the threshold. */
  thresholdEpochs: number;
  /** How easy is chosen: the first-learned fraction overall or per class, or the examples right at the threshold evaluation. */
  split?: EasySplit;
  /** The threshold run evaluates after every update until it stops. */
  thresholdEveryStep?: boolean;
}

export const EASY_SPLITS = ['exact', 'per-class', 'evaluation'] as const;
export type EasySplit = (typeof EASY_SPLITS)[number];

export interface SplitSizes { easyTrain: number; easyTest: number; hardTrain: number; hardTest: number }
export interface Splits { eTrain: Int32Array; eTest: Int32Array; hTrain: Int32Array; hTest: Int32Array }

export const SPLITS_FILE = 'splits.safetensors';

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
  return { easyTrain: given.easyTrain ?? train, easyTest: given.easyTest ?? m - train, hardTrain: given.hardTrain ?? train,
    hardTest: given.hardTest ?? m - train };
}

export function validateSplitSizes(s: SplitSizes, nEasy: number, nHard: number): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new ExperimentError(`split size ${flag(k)} ${v} must be a whole number of at least 1`);
  }
  if (s.easyTrain + s.easyTest > nEasy) {
    throw new ExperimentError(`--easy-train ${s.easyTrain} plus --easy-test ${s.easyTest} is more than the ${nEasy} easy examples; ask for at most ${nEasy} `
      + `together`);
  }
  if (s.hardTrain + s.hardTest > nHard) {
    throw new ExperimentError(`--hard-train ${s.hardTrain} plus --hard-test ${s.hardTest} is more than the ${nHard} hard examples; ask for at most ${nHard} `
      + `together`);
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
 * A run trained with the experiment's settings (SGD, clean labels) until the whole training set reaches
 * `threshold`; its check refuses a run that did not, and the run stays in its folder.
 */
export function thresholdRun(name: string, seed: number, threshold: number, budget: number, everyStep = false): PlannedRun {
  return trainingSetRun(name, { seed, epochs: budget, records: 'all', stopAt: { set: 'train', acc: threshold, ...(everyStep ? { everyStep } : {}) } }, {
    check: (result) => {
      if (result.summary.status !== 'stopped') {
        const trainAcc = result.rows.filter((r) => r.kind === 'eval' && r.set === 'train').map((r) => (r as { acc: number }).acc);
        const reached = Math.max(0, ...trainAcc);
        const why = result.summary.status === 'diverged' ? `diverged at step ${result.summary.divergedAtStep}`
          : `reached at most ${(reached * 100).toFixed(1)}% training accuracy in ${budget} epochs`;
        throw new ExperimentError(`the threshold run ${result.dir} ${why}, short of --threshold ${threshold}; raise --threshold-epochs (with another --out) `
          + `or lower --threshold`);
      }
      if (!result.records) throw new ExperimentError(`${result.dir} has no per-example records (examples.safetensors); delete that run folder to run it again`);
    },
  });
}

/** Which examples a finished threshold run had right when it stopped. */
export async function correctAtThreshold(ctx: GridContext, run: string): Promise<Uint8Array> {
  return (await ctx.result(run)).records!.correctAtLatest();
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

/**
 * Easy and hard examples of a finished threshold run, by the chosen split (easy/hard and difficulty both use
 * this; a folder made before the split option existed used the evaluation split). The examples that share the
 * boundary step are ordered by a draw seeded from the data seed and `repeat` (difficulty's classification number).
 */
export async function classifyAtThreshold(ctx: GridContext, run: string, threshold: number, split: EasySplit | undefined, repeat = 0)
  : Promise<{ easy: Int32Array; hard: Int32Array }> {
  if (split === undefined || split === 'evaluation') return classifyEasyHard(await correctAtThreshold(ctx, run));
  const tieSeed = ctx.spec.settings.dataSeed * 2 + 7 + repeat;
  const first = (await ctx.result(run)).records!.first;
  return split === 'exact' ? splitAtThreshold(first, threshold, tieSeed)
    : splitAtThresholdPerClass(first, ctx.data.train.labels, ctx.data.numClasses, threshold, tieSeed);
}

/** The --split flag of the experiments that classify easy and hard (easy-hard, difficulty). */
export const SPLIT_FLAG = {
  name: 'split', type: 'string', default: 'exact', metavar: EASY_SPLITS.join('|'), help: 'easy = the threshold\'s fraction learned first '
    + '(exact), that fraction of each class (per-class), or the examples right at the evaluation that passed the threshold (evaluation)',
} as const;

/** How a split picks easy, in words for the report (a folder without the option used the evaluation split). */
export function splitText(split: unknown): string {
  if (split === 'exact') return 'the threshold\'s fraction of examples learned first, by first-correct step';
  if (split === 'per-class') return 'that fraction of each class, by first-correct step';
  return 'the examples correct at the evaluation that passed the threshold';
}

/**
 * --threshold-every-step: the threshold runs evaluate the whole training set after every update, so examples
 * learned between two scheduled evaluations are not tied at the boundary (on the dense schedule, examples
 * first right between steps 10 and 20 all share step 20: a third of the 3,000 images of cgh reproduce).
 */
export const EVERY_STEP_FLAG = {
  name: 'threshold-every-step', type: 'boolean', default: false, help: 'evaluate the whole training set after every update until the threshold, '
    + 'so first-correct steps (and the exact split) have one step\'s resolution; a pass over the training set per step, for small sets',
} as const;

/** --split and --threshold-every-step parsed; the latter present only when on, so folders made before it still match. */
export function classificationOptions(flags: Record<string, unknown>): { split: EasySplit; thresholdEveryStep?: true } {
  return { split: String(flags.split ?? 'exact') as EasySplit, ...(flags.thresholdEveryStep === true ? { thresholdEveryStep: true as const } : {}) };
}

/** The same options as flags of the equivalent command (a folder made before --split used the evaluation split). */
export function classificationFlags(o: { split?: EasySplit; thresholdEveryStep?: boolean }): string[] {
  return ['--split', o.split ?? 'evaluation', ...(o.thresholdEveryStep ? ['--threshold-every-step'] : [])];
}

/** The --split value, checked. */
export function validateSplit(split: string | undefined): void {
  if (split !== undefined && !(EASY_SPLITS as readonly string[]).includes(split)) {
    throw new ExperimentError(`unknown --split ${split}; use ${EASY_SPLITS.join(', ')}`);
  }
}

/** The easy/hard splits of the finished threshold run, drawn and checked; written to splits.safetensors for the report. */
async function splitsOf(ctx: GridContext, o: EasyHardOptions): Promise<Splits> {
  const { easy, hard } = await classifyAtThreshold(ctx, 'threshold', o.threshold, o.split);
  const sizes = defaultSplitSizes(easy.length, hard.length, o);
  validateSplitSizes(sizes, easy.length, hard.length);
  const splits = drawSplits(easy, hard, sizes, new Rng(ctx.spec.settings.dataSeed * 2 + 5));
  writeSplits(path.join(ctx.root, SPLITS_FILE), splits, { easy: String(easy.length), hard: String(hard.length), split: o.split ?? 'evaluation' });
  return splits;
}

/** A run from scratch on e-train or h-train, evaluated on e-test, h-test and the test set. */
function splitRun(name: 'easy' | 'hard', o: EasyHardOptions): PlannedRun {
  return {
    name,
    dependsOn: ['threshold'],
    prepare: async (ctx) => {
      const splits = await splitsOf(ctx, o);
      const { data: d } = ctx;
      const evalSets = [
        { name: 'e-test', split: gatherExamples(d.train, splits.eTest) },
        { name: 'h-test', split: gatherExamples(d.train, splits.hTest) },
        { name: 'test', split: d.test },
      ];
      const idx = name === 'easy' ? splits.eTrain : splits.hTrain;
      const selection = { name: name === 'easy' ? 'e-train' : 'h-train', count: idx.length, checksum: checksum(idx) };
      const data: RunData = { train: gatherExamples(d.train, idx), numClasses: d.numClasses, inputShape: d.inputShape, evalSets };
      return { config: ctx.config(name, { trainSelection: selection }, data), data };
    },
  };
}

export const easyHard = defineProtocol<EasyHardOptions>({
  name: 'easy-hard',
  summary: 'Easy and hard examples (Sections 4.2 and 4.4, Figure 4): train to a threshold, split, train on each.',
  flags: [
    { name: 'threshold', type: 'string', default: '50%', metavar: 'ACC', help: 'training accuracy at which learned examples are called easy' },
    { name: 'threshold-epochs', type: 'int', min: 1, help: 'epoch budget for reaching the threshold (default: the preset\'s)' },
    { name: 'easy-train', type: 'int', min: 1, metavar: 'N', help: 'size of e-train (default: 5/6 of the smaller of easy and hard)' },
    { name: 'easy-test', type: 'int', min: 1, metavar: 'N', help: 'size of e-test (default: 1/6 of the smaller of easy and hard)' },
    { name: 'hard-train', type: 'int', min: 1, metavar: 'N', help: 'size of h-train' },
    { name: 'hard-test', type: 'int', min: 1, metavar: 'N', help: 'size of h-test' },
    SPLIT_FLAG,
    EVERY_STEP_FLAG,
  ],
  parseFlags: (a, budgets) => ({
    threshold: parseFraction(String(a.threshold), '--threshold'),
    easyTrain: a.easyTrain as number | undefined, easyTest: a.easyTest as number | undefined,
    hardTrain: a.hardTrain as number | undefined, hardTest: a.hardTest as number | undefined,
    thresholdEpochs: (a.thresholdEpochs as number | undefined) ?? budgets.thresholdEpochs,
    ...classificationOptions(a),
  }),
  toFlags: (o) => {
    const sizes = (['easyTrain', 'easyTest', 'hardTrain', 'hardTest'] as const).filter((k) => o[k] !== undefined);
    return ['--threshold', percentList([o.threshold]), ...sizes.flatMap((k) => [flag(k), String(o[k])]), ...budgetFlag('--threshold-epochs',
      o.thresholdEpochs), ...classificationFlags(o)];
  },
  validate: (o) => {
    validateThreshold(o.threshold);
    validateSplit(o.split);
  },
  mutable: ['easyTrain', 'easyTest', 'hardTrain', 'hardTest'],
  plan: (spec) => {
    const o = spec.options;
    const threshold = thresholdRun('threshold', spec.settings.seed, o.threshold, o.thresholdEpochs, o.thresholdEveryStep);
    return [threshold, splitRun('easy', o), splitRun('hard', o), trainingSetRun('full', {})];
  },
  report: (e) => easyHardSection(e),
  reproduce: {
    settings: { epochs: 20, trainSize: 3000, momentum: 0.9, lr: 0.01 },
    options: { threshold: 0.5, thresholdEpochs: 5, split: 'exact', thresholdEveryStep: true },
    notes: `the first 3,000 images; SGD (momentum 0.9 at lr 0.01, which keeps the units alive) to
                    50% training accuracy, evaluated every step; e/h splits in the paper's 5:1 proportions,
                    20 epochs on each`,
  },
});

import fs from 'node:fs';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../../engine/safetensors.js';
import { ExperimentError } from '../run/grid-run.js';
import { difficultySection } from '../report/difficulty.js';
import { writeFileAtomic } from '../files/durable-file.js';
import { defineProtocol, trainingSetRun, type GridContext, type PlannedRun } from './protocol.js';
import { classificationFlags, classificationOptions, classifyAtThreshold, EVERY_STEP_FLAG, SPLIT_FLAG, thresholdRun, validateSplit, type EasySplit }
  from './easy-hard.js';
import { budgetFlag, parseFraction, percentList, validateThreshold } from './option-flags.js';

/**
 * Difficulty (Section 4.3, Figure 5a): the easy/hard classification is repeated R times with different
 * seeds (initialisation and batch order); an example's difficulty is how many times it was hard (0..R).
 * Each classification splits as easy/hard does (--split; by default exactly the threshold's fraction,
 * ranked by first-correct step, rather than everything correct at the evaluation that passed it).
 * Then RM3 (momentum 0) trains on the whole training set, and its final training accuracy is reported per
 * difficulty level with the count of examples at that level. An SGD run with the same settings is
 * trained beside it, since the paper's comparison point is that SGD learns every example.
 */
export interface DifficultyOptions {
  repeats: number;
  threshold: number;
  /** Also train SGD for comparison. */
  compareSgd: boolean;
  /** Epoch budget of each threshold run. */
  thresholdEpochs: number;
  /** How each classification picks easy (absent in folders made before the option: the evaluation split). */
  split?: EasySplit;
  /** Each threshold run evaluates after every update until it stops. */
  thresholdEveryStep?: boolean;
}
export const DIFFICULTY_FILE = 'difficulty.safetensors';

/** Per example: how many of the hard masks mark it hard. */
export function difficultyOf(hardMasks: Uint8Array[]): Int32Array {
  if (hardMasks.length === 0) throw new ExperimentError('difficulty needs at least one easy/hard classification; use --repeats 1 or more');
  const n = hardMasks[0].length;
  const d = new Int32Array(n);
  for (const m of hardMasks) {
    if (m.length !== n) throw new Error(`hard masks of ${m.length} and ${n} examples cannot be combined`);
    for (let i = 0; i < n; i++) d[i] += m[i] ? 1 : 0;
  }
  return d;
}

export interface DifficultyRow { difficulty: number; count: number; correct: number; accuracy: number }

/** Count and accuracy (correct[i] = 1 when learned) at each difficulty 0..repeats. */
export function accuracyByDifficulty(difficulty: Int32Array, correct: Uint8Array, repeats: number): DifficultyRow[] {
  const rows: DifficultyRow[] = Array.from({ length: repeats + 1 }, (_, d) => ({ difficulty: d, count: 0, correct: 0, accuracy: NaN }));
  for (let i = 0; i < difficulty.length; i++) {
    const r = rows[difficulty[i]];
    r.count++;
    r.correct += correct[i] ? 1 : 0;
  }
  for (const r of rows) r.accuracy = r.count > 0 ? r.correct / r.count : NaN;
  return rows;
}

export function writeDifficulty(file: string, difficulty: Int32Array, repeats: number): void {
  const bytes = encodeSafetensors([{ name: 'difficulty', shape: [difficulty.length], data: difficulty }], { repeats: String(repeats) });
  writeFileAtomic(file, bytes);
}

export function readDifficulty(file: string): Int32Array {
  const t = decodeSafetensors(fs.readFileSync(file), file).tensors.get('difficulty')?.data;
  if (!(t instanceof Int32Array)) throw new ExperimentError(`${file} lacks the difficulty tensor; delete it to compute it again`);
  return t;
}

const thresholdName = (r: number) => `threshold-${r + 1}`;

/** Once every classification has finished: difficulty.safetensors, which the report reads. */
async function writeDifficultyWhenComplete(ctx: GridContext, o: DifficultyOptions): Promise<void> {
  const names = Array.from({ length: o.repeats }, (_, r) => thresholdName(r));
  if (!names.every((n) => ctx.finished(n))) return;
  const masks: Uint8Array[] = [];
  for (const [r, n] of names.entries()) {
    // Ties at the boundary are drawn anew for each classification, as its initialisation is.
    const { easy, hard } = await classifyAtThreshold(ctx, n, o.threshold, o.split, r);
    const mask = new Uint8Array(easy.length + hard.length);
    for (const i of hard) mask[i] = 1;
    masks.push(mask);
  }
  writeDifficulty(path.join(ctx.root, DIFFICULTY_FILE), difficultyOf(masks), o.repeats);
}

/** RM3 or SGD on the whole training set with momentum 0, recording which examples it learns. */
function trainedRun(rule: 'rm3' | 'sgd'): PlannedRun {
  return trainingSetRun(rule, { rule, momentum: 0, records: 'all' }, {
    check: (r) => {
      if (!r.records) throw new ExperimentError(`${r.dir} has no per-example records; delete that run folder to run it again`);
    },
  });
}

export const difficulty = defineProtocol<DifficultyOptions>({
  name: 'difficulty',
  summary: 'Difficulty (Section 4.3, Figure 5a): R easy/hard classifications, then RM3 accuracy per difficulty level.',
  flags: [
    { name: 'repeats', type: 'int', min: 1, default: 8, metavar: 'R', help: 'easy/hard classifications with different seeds' },
    { name: 'threshold', type: 'string', default: '50%', metavar: 'ACC', help: 'training accuracy at which learned examples are called easy' },
    { name: 'threshold-epochs', type: 'int', min: 1, help: 'epoch budget for reaching the threshold (default: the preset\'s)' },
    { name: 'compare-sgd', type: 'boolean', default: true, help: 'also train SGD beside RM3 (--compare-sgd=false to skip)' },
    SPLIT_FLAG,
    EVERY_STEP_FLAG,
  ],
  parseFlags: (a, budgets) => ({
    repeats: a.repeats as number,
    threshold: parseFraction(String(a.threshold), '--threshold'),
    compareSgd: a.compareSgd as boolean,
    thresholdEpochs: (a.thresholdEpochs as number | undefined) ?? budgets.thresholdEpochs,
    ...classificationOptions(a),
  }),
  toFlags: (o) => [
    '--threshold', percentList([o.threshold]), '--repeats', String(o.repeats), ...(o.compareSgd ? [] : ['--compare-sgd=false']),
    ...budgetFlag('--threshold-epochs', o.thresholdEpochs), ...classificationFlags(o),
  ],
  validate: (o) => {
    validateThreshold(o.threshold);
    validateSplit(o.split);
    if (!Number.isInteger(o.repeats) || o.repeats < 1) throw new ExperimentError(`--repeats ${o.repeats} must be a whole number of at least 1`);
  },
  plan: (spec) => {
    const o = spec.options;
    const thresholds = Array.from({ length: o.repeats }, (_, r): PlannedRun => {
      const run = thresholdRun(thresholdName(r), spec.settings.seed + r, o.threshold, o.thresholdEpochs, o.thresholdEveryStep);
      return { ...run, finish: (ctx) => writeDifficultyWhenComplete(ctx, o) };
    });
    return [...thresholds, trainedRun('rm3'), ...(o.compareSgd ? [trainedRun('sgd')] : [])];
  },
  report: (e) => difficultySection(e),
  reproduce: {
    settings: { epochs: 15, batchSize: 20 },
    options: { repeats: 8, threshold: 0.5, compareSgd: true, thresholdEpochs: 5, split: 'exact', thresholdEveryStep: true },
    notes: `8 easy/hard classifications (evaluated every step), then RM3 and SGD (batch 20, momentum 0)
                    for 15 epochs`,
  },
});

import fs from 'node:fs';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../engine/safetensors.js';
import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import { ExperimentError, type RunResult } from './experiment-run.js';
import { plainRunData } from './label-noise-experiment.js';
import { thresholdRun, validateThreshold } from './easy-hard.js';
import { writeFileAtomic } from './files/durable-file.js';

/**
 * Difficulty (Section 4.3, Figure 5a): the easy/hard classification is repeated R times with different
 * seeds (initialisation and batch order); an example's difficulty is how many times it was hard (0..R).
 * Then RM3 (momentum 0) trains on the whole training set, and its final training accuracy is reported per
 * difficulty level with the count of examples at that level. An SGD run with the same settings is
 * trained beside it, since the paper's comparison point is that SGD learns every example.
 */
export interface DifficultyOptions {
  repeats: number;
  threshold: number;
  /** Also train SGD for comparison. */
  compareSgd: boolean;
}

export const DIFFICULTY_DEFAULTS: DifficultyOptions = { repeats: 8, threshold: 0.5, compareSgd: true };
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

export interface DifficultyResult {
  difficulty: Int32Array;
  thresholds: RunResult[];
  rm3: RunResult;
  sgd: RunResult | null;
  rm3Rows: DifficultyRow[];
  sgdRows: DifficultyRow[] | null;
}

export async function difficultyExperiment(exp: Experiment, data: ExperimentData, o: DifficultyOptions, thresholdEpochs: number): Promise<DifficultyResult> {
  validateThreshold(o.threshold);
  if (!Number.isInteger(o.repeats) || o.repeats < 1) throw new ExperimentError(`--repeats ${o.repeats} must be a whole number of at least 1`);
  const masks: Uint8Array[] = [];
  const thresholds: RunResult[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const { result, correct } = await thresholdRun(exp, data, `threshold-${r + 1}`, exp.spec.settings.seed + r, o.threshold, thresholdEpochs);
    thresholds.push(result);
    masks.push(correct.map((c) => (c ? 0 : 1)));
  }
  const difficulty = difficultyOf(masks);
  writeDifficulty(path.join(exp.root, DIFFICULTY_FILE), difficulty, o.repeats);

  const runData = plainRunData(data);
  const trained = async (rule: 'rm3' | 'sgd') => {
    const r = await exp.run(exp.config(rule, { rule, momentum: 0, records: 'all' }, runData), runData);
    if (!r.records) throw new ExperimentError(`${r.dir} has no per-example records; delete that run folder to run it again`);
    return r;
  };
  const rm3 = await trained('rm3');
  const sgd = o.compareSgd ? await trained('sgd') : null;
  return {
    difficulty, thresholds, rm3, sgd,
    rm3Rows: accuracyByDifficulty(difficulty, rm3.records!.correctAtLatest(), o.repeats),
    sgdRows: sgd ? accuracyByDifficulty(difficulty, sgd.records!.correctAtLatest(), o.repeats) : null,
  };
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import { splitAtThreshold, splitAtThresholdPerClass } from '../experiments/protocols/easy-hard-threshold.js';
import { difficulty, DIFFICULTY_FILE, readDifficulty, type DifficultyOptions } from '../experiments/protocols/difficulty.js';
import type { GridContext } from '../experiments/protocols/protocol.js';
import type { RunResult } from '../experiments/run/grid-run.js';
import { ExampleRecords } from '../experiments/run/example-records.js';

// First-correct steps of ten examples (-1: never learned).
const FIRST = Int32Array.from([3, 1, -1, 2, 2, 5, 0, -1, 2, 4]);

test('the exact split takes the examples learned first, stopping at the threshold to the example', () => {
  const half = splitAtThreshold(FIRST, 0.5, 7);
  if ([...half.easy].join() !== '1,3,4,6,8') throw new Error(`easy at 50%: ${[...half.easy]}`);
  if ([...half.hard].join() !== '0,2,5,7,9') throw new Error(`hard at 50%: ${[...half.hard]}`);
  if (half.boundaryStep !== 2 || half.tied !== 3 || half.tiedEasy !== 3) throw new Error(`boundary ${JSON.stringify(half)}`);

  // 40%: four easy, so one of the three examples first correct at step 2 stays hard.
  const forty = splitAtThreshold(FIRST, 0.4, 7);
  const easy = [...forty.easy];
  if (easy.length !== 4 || !easy.includes(6) || !easy.includes(1)) throw new Error(`easy at 40%: ${easy}`);
  if (easy.filter((i) => [3, 4, 8].includes(i)).length !== 2 || forty.tiedEasy !== 2 || forty.tied !== 3) throw new Error(`tie at 40%: ${easy}`);
  if ([...splitAtThreshold(FIRST, 0.4, 7).easy].join() !== easy.join()) throw new Error('the same seed gave another split');

  // 90%: nine easy, reaching into the never-learned examples.
  const ninety = splitAtThreshold(FIRST, 0.9, 1);
  const ninetyOk = ninety.easy.length === 9 && ninety.boundaryStep === -1 && ninety.hard.length === 1 && [2, 7].includes(ninety.hard[0]);
  if (!ninetyOk) throw new Error(`90%: ${JSON.stringify(ninety)}`);

  // Any size: the easy fraction is within one example of the threshold.
  const n = 1001;
  const first = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 13);
  for (const t of [0.1, 0.333, 0.5, 0.77]) {
    const s = splitAtThreshold(first, t, 3);
    if (Math.abs(s.easy.length - t * n) > 1 || s.easy.length + s.hard.length !== n) throw new Error(`threshold ${t}: ${s.easy.length} easy of ${n}`);
    const maxEasy = Math.max(...[...s.easy].map((i) => first[i])), minHard = Math.min(...[...s.hard].map((i) => first[i]));
    if (maxEasy > minHard) throw new Error(`threshold ${t}: an easy example was learned at ${maxEasy}, after a hard one at ${minHard}`);
  }
});

test('the per-class split takes the threshold fraction of every class', () => {
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  const s = splitAtThresholdPerClass(FIRST, labels, 2, 0.5, 2);
  // Class 0 (examples 0-3: steps 3, 1, never, 2) gives 1 and 3; class 1 (4-9: 2, 5, 0, never, 2, 4) gives 6, 4, 8.
  if ([...s.easy].join() !== '1,3,4,6,8') throw new Error(`per-class easy: ${[...s.easy]}`);
  const skewed = Int32Array.from([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const t = splitAtThresholdPerClass(FIRST, skewed, 2, 0.5, 2);
  // Class 0 has one example: round(0.5) = 1 (JavaScript rounds halves up), so example 0 is easy although learned last but one.
  if (!t.easy.includes(0) || t.easy.length !== 1 + Math.round(4.5)) throw new Error(`skewed classes: ${[...t.easy]}`);
  let threw = false;
  try { splitAtThresholdPerClass(FIRST, labels.subarray(1), 2, 0.5, 2); } catch { threw = true; }
  if (!threw) throw new Error('mismatched labels were accepted');
});

/** Records of a threshold run evaluated at steps 0..last, where example i is correct from step first[i] on (-1: never). */
function recordsOf(first: number[], last: number): ExampleRecords {
  const r = new ExampleRecords(first.length);
  for (let step = 0; step <= last; step++) r.update(step, Uint8Array.from(first, (f) => (f >= 0 && f <= step ? 1 : 0)));
  return r;
}

/** Runs the difficulty grid's finish step on two threshold runs with these first-correct steps; returns the difficulty per example. */
async function difficultyFrom(firsts: number[][], options: Partial<DifficultyOptions>): Promise<number[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-difficulty-'));
  const o: DifficultyOptions = { repeats: firsts.length, threshold: 0.5, compareSgd: false, thresholdEpochs: 1, ...options };
  const settings = { seed: 0, dataSeed: 0 } as GridContext['spec']['settings'];
  const spec = { experiment: 'difficulty', preset: 'tiny', settings, options: o as unknown as Record<string, unknown>, command: 'test' };
  const results = new Map(firsts.map((f, r) => [`threshold-${r + 1}`, { records: recordsOf(f, 8) } as unknown as RunResult]));
  const ctx = {
    root, spec, data: { train: { labels: new Int32Array(firsts[0].length) }, numClasses: 1 },
    finished: (run: string) => results.has(run),
    result: async (run: string) => results.get(run)!,
  } as unknown as GridContext;
  const runs = difficulty.plan({ ...spec, options: o } as Parameters<typeof difficulty.plan>[0]);
  await runs[0].finish!(ctx);
  const d = [...readDifficulty(path.join(root, DIFFICULTY_FILE))];
  fs.rmSync(root, { recursive: true });
  return d;
}

test('difficulty counts hard classifications from the exact split by default, not from the evaluation that passed the threshold', async () => {
  // Two threshold runs evaluated at steps 0..8; by step 8 nine of ten examples are right (90%, overshooting 50%).
  // No two examples share a first-correct step near the boundary, so the exact 50% split is known by hand:
  // run 1 makes 0-4 easy, run 2 makes 4, 5, 6, 8 and 9 easy; example 7 is never learned.
  const firsts = [[0, 1, 2, 3, 4, 5, 6, -1, 7, 8], [8, 7, 6, 5, 4, 3, 2, -1, 1, 0]];
  const flags = difficulty.parseFlags(Object.fromEntries(difficulty.flags.map((f) => [f.name.replace(/-(.)/g, (_, c) => c.toUpperCase()), f.default])),
    { epochs: 1, thresholdEpochs: 1, antiEpochs: 1 });
  if (flags.split !== 'exact') throw new Error(`the default split is ${flags.split}`);
  const exact = await difficultyFrom(firsts, { split: flags.split });
  if (exact.join() !== '1,1,1,1,0,1,1,2,1,1') throw new Error(`exact split difficulties ${exact}`);
  // The evaluation split (and a folder made before the option, which used it) calls everything right at step 8 easy.
  for (const split of ['evaluation', undefined] as const) {
    const atEvaluation = await difficultyFrom(firsts, { split });
    if (atEvaluation.join() !== '0,0,0,0,0,0,0,2,0,0') throw new Error(`${split ?? 'no'} split: difficulties ${atEvaluation}`);
  }
});

test.run();

import { test } from 'uvu';
import { splitAtThreshold, splitAtThresholdPerClass } from '../experiments/protocols/easy-hard-threshold.js';

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

test.run();

import { test } from 'uvu';
import { correctTopK } from '../engine/ops/topk.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn } from './helpers/check.js';

/** Float64 reference: sort the class indices by score descending (lower index first on ties), look for the label in the first k. */
function topKRef(L: Float32Array, Y: Int32Array, B: number, C: number, k: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from({ length: C }, (_, j) => j);
    row.sort((i, j) => (L[b * C + j] - L[b * C + i]) || (i - j));
    out.push(Number.isNaN(L[b * C + Y[b]]) ? 0 : row.slice(0, k).includes(Y[b]) ? 1 : 0);
  }
  return out;
}

async function check(B: number, C: number, k: number, L: Float32Array, Y: Int32Array) {
  const got = await runGraph([{ shape: [B, C], data: L }, { shape: [B], data: Y, dtype: 'i32' }], (_g, [l, y]) => correctTopK(l, y, k), { grads: false });
  const want = topKRef(L, Y, B, C, k);
  for (let b = 0; b < B; b++) if (got.out[b] !== want[b]) throw new Error(`top-${k} [${B}, ${C}] row ${b}: got ${got.out[b]}, want ${want[b]}`);
  return want.reduce((a, b) => a + b, 0);
}

test('top-k correctness matches a sorted float64 reference on odd sizes, k = 1, 5 and C', async () => {
  const rng = new Rng(5);
  for (const [B, C] of [[1, 1], [7, 5], [67, 13], [130, 1000]]) {
    const L = randn(rng, B * C);
    const Y = Int32Array.from({ length: B }, () => Math.floor(rng.uniform() * C));
    for (const k of [1, 5, C]) {
      const hits = await check(B, C, k, L, Y);
      if (k >= C && hits !== B) throw new Error(`top-${k} of ${C} classes must be all correct, got ${hits}/${B}`);
    }
  }
});

test('top-k breaks ties by class index and counts a NaN label score as wrong', async () => {
  // Row 0: all equal, label 4 ranks 5th (index order) -> in top-5, not in top-4. Row 1: label 0 ties with 3 others above it.
  const C = 6;
  const L = new Float32Array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, NaN, 0, 0, 0, 0]);
  const Y = new Int32Array([4, 3, 1]);
  const top5 = await check(3, C, 5, L, Y);
  const top4 = await check(3, C, 4, L, Y);
  if (top5 !== 2 || top4 !== 1) throw new Error(`ties: top-5 ${top5} (want 2), top-4 ${top4} (want 1)`);
});

test.run();

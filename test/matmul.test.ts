import { test } from 'uvu';
import { matmul } from '../engine/ops/matmul.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';

/** Plain-loop float64 reference for op(A)·op(B), batched over `batch`. */
function refMatmul(A: Float64Array, B: Float64Array, M: number, N: number, K: number, tA: boolean, tB: boolean, batch = 1): Float64Array {
  const C = new Float64Array(batch * M * N);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = tA ? A[b * M * K + k * M + i] : A[b * M * K + i * K + k];
          const bb = tB ? B[b * K * N + j * K + k] : B[b * K * N + k * N + j];
          s += a * bb;
        }
        C[b * M * N + i * N + j] = s;
      }
  return C;
}

// Tolerance: float32 accumulation over K terms of unit-variance products gives errors ~ sqrt(K) * 6e-8 * |terms|;
// atol 1e-4 * sqrt(K) with rtol 1e-4 leaves a wide margin and still catches any indexing error (errors of O(1)).
const sizes: [number, number, number][] = [[1, 1, 1], [7, 33, 5], [33, 7, 257], [64, 48, 31], [257, 9, 33], [5, 257, 7]];

for (const tA of [false, true])
  for (const tB of [false, true])
    test(`matmul forward and backward, transA=${tA} transB=${tB}`, async () => {
      const rng = new Rng(1 + (tA ? 2 : 0) + (tB ? 1 : 0));
      for (const [M, N, K] of sizes) {
        const A = randn(rng, M * K), B = randn(rng, K * N);
        const { out, grads, weights } = await runGraph(
          [{ shape: tA ? [K, M] : [M, K], data: A }, { shape: tB ? [N, K] : [K, N], data: B }],
          (_g, [a, b]) => matmul(a, b, { transA: tA, transB: tB }),
        );
        const f = (xs: Float64Array[]) => refMatmul(xs[0], xs[1], M, N, K, tA, tB);
        const atol = 1e-4 * Math.sqrt(K);
        assertClose(`forward ${M}x${N}x${K}`, out, f([f64(A), f64(B)]), atol, 1e-4);
        {
          const xs = [f64(A), f64(B)];
          assertGradClose(`dA ${M}x${N}x${K}`, grads[0], finiteDiff(f, xs, 0, weights), 1e-4 * Math.sqrt(N), 1e-3);
          assertGradClose(`dB ${M}x${N}x${K}`, grads[1], finiteDiff(f, xs, 1, weights), 1e-4 * Math.sqrt(M), 1e-3);
        }
      }
    });

test('batched matmul forward and backward', async () => {
  const rng = new Rng(7);
  const [bt, M, N, K] = [3, 9, 7, 33];
  for (const tA of [false, true]) for (const tB of [false, true]) {
    const A = randn(rng, bt * M * K), B = randn(rng, bt * K * N);
    const { out, grads, weights } = await runGraph(
      [{ shape: tA ? [bt, K, M] : [bt, M, K], data: A }, { shape: tB ? [bt, N, K] : [bt, K, N], data: B }],
      (_g, [a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    );
    const f = (xs: Float64Array[]) => refMatmul(xs[0], xs[1], M, N, K, tA, tB, bt);
    const xs = [f64(A), f64(B)];
    assertClose('batched forward', out, f(xs), 1e-3, 1e-4);
    assertGradClose('batched dA', grads[0], finiteDiff(f, xs, 0, weights), 1e-3, 1e-3);
    assertGradClose('batched dB', grads[1], finiteDiff(f, xs, 1, weights), 1e-3, 1e-3);
  }
});

test.run();

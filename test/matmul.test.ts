import { test } from 'uvu';
import { dispatchMatmul, matmul, Product } from '../engine/ops/matmul.js';
import { Graph, OpDef } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { getGpu } from '../engine/context.js';
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
const sizes: [number, number, number][] = [[1, 1, 1], [7, 33, 5], [33, 7, 257], [64, 48, 31], [257, 9, 33], [5, 257, 7], [72, 84, 68], [37, 130, 64]];

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

/** The kernel's product with batch strides and folded columns (as 1x1 convolutions use it), run directly. */
async function runProduct(p: Product, A: Float32Array, B: Float32Array): Promise<Float32Array> {
  const g = new Graph();
  const a = g.input('a', [A.length]), b = g.input('b', [B.length]);
  const op: OpDef = { type: 'test_product', compile: (n, c) => dispatchMatmul(c, p, c.buf(a), c.buf(b), c.buf(n), 'test product') };
  const out = g.op(op, [a, b], [productSize(p)], {});
  const prog = new Program(await getGpu(), g, [out]);
  prog.write(a, A);
  prog.write(b, B);
  prog.run();
  return (await prog.read(out)) as Float32Array;
}

/** Elements of C: the last result's end (gaps between results stay zero). */
function productSize(p: Product): number {
  const cols = p.cols ?? p.N, results = p.batch * (p.N / cols);
  return (results - 1) * (p.strideC ?? p.M * p.N) + p.M * cols;
}

/**
 * Float64 C_e = op(A_e) · op(B_e) with entry e of an operand at e · stride; with folded columns, entry e of B
 * (K x cols) and A give C's entry e.
 */
function refProduct(p: Product, A: Float64Array, B: Float64Array): Float64Array {
  const { M, K, batch } = p, N = p.cols ?? p.N;
  const strideC = p.strideC ?? M * N;
  const C = new Float64Array(productSize(p));
  for (let e = 0; e < batch * (p.N / N); e++) {
    const one = refMatmul(A.subarray(e * p.strideA, e * p.strideA + M * K), B.subarray(e * p.strideB, e * p.strideB + K * N), M, N, K, p.transA, p.transB);
    C.set(one, e * strideC);
  }
  return C;
}

test('matmul kernel: an operand broadcast over the batch (stride 0), gaps between results, batch folded into columns', async () => {
  const rng = new Rng(11);
  const cases: Product[] = [
    { M: 9, N: 35, K: 17, transA: false, transB: false, batch: 5, strideA: 0, strideB: 17 * 35 },
    { M: 9, N: 35, K: 17, transA: true, transB: false, batch: 4, strideA: 0, strideB: 17 * 35 },
    { M: 64, N: 260, K: 40, transA: false, transB: false, batch: 3, strideA: 0, strideB: 40 * 260 },
    { M: 33, N: 64, K: 130, transA: true, transB: false, batch: 2, strideA: 33 * 130, strideB: 0 },
    { M: 7, N: 9, K: 15, transA: false, transB: true, batch: 2, strideA: 0, strideB: 9 * 15, strideC: 7 * 9 + 2 },
    // The batch folded into the columns, with gaps between entries of B and of C.
    { M: 9, N: 5 * 35, K: 17, transA: false, transB: false, batch: 1, cols: 35, strideA: 0, strideB: 17 * 35 + 3, strideC: 9 * 35 + 5 },
    { M: 64, N: 8 * 36, K: 40, transA: false, transB: false, batch: 1, cols: 36, strideA: 0, strideB: 40 * 36 + 8, strideC: 64 * 36 + 4 },
    { M: 30, N: 3 * 49, K: 70, transA: true, transB: false, batch: 1, cols: 49, strideA: 0, strideB: 70 * 49, strideC: 30 * 49 },
  ];
  for (const p of cases) {
    const entries = p.batch * (p.N / (p.cols ?? p.N));
    const A = randn(rng, p.strideA === 0 ? p.M * p.K : entries * p.strideA);
    const B = randn(rng, p.strideB === 0 ? p.K * p.N : entries * p.strideB);
    const got = await runProduct(p, A, B);
    const name = `${p.batch} of ${p.M}x${p.N}x${p.K} (${p.cols ?? p.N} columns each) strides ${p.strideA},${p.strideB},${p.strideC}`;
    assertClose(name, got, refProduct(p, f64(A), f64(B)), 1e-4 * Math.sqrt(p.K), 1e-4);
  }
});

test.run();

import { test } from 'uvu';
import { add, mul, scale, relu } from '../engine/ops/elementwise.js';
import { addBias } from '../engine/ops/bias.js';
import { sum, mean, sumMiddle } from '../engine/ops/reduce.js';
import { crossEntropy, correct } from '../engine/ops/loss.js';
import { Rng } from '../engine/random.js';
import { Graph } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { getGpu } from '../engine/context.js';
import { assertThrowsLine } from './helpers/check.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';

// Elementwise ops are single float32 operations: tolerance 1e-6 relative (a few ulps) plus 1e-7 absolute.
const shapes = [[1], [7], [33, 7], [257], [5, 257]];

const unary: [string, (x: any) => any, (a: number) => number][] = [
  ['relu', relu, (a) => Math.max(a, 0)],
  ['scale', (x) => scale(x, -2.5), (a) => -2.5 * a],
];
for (const [name, op, ref] of unary)
  test(`${name} forward and backward`, async () => {
    const rng = new Rng(name.length);
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const X = randn(rng, n);
      const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => op(x));
      const f = (xs: Float64Array[]) => xs[0].map(ref);
      assertClose(`${name} [${shape}]`, out, f([f64(X)]), 1e-7, 1e-6);
      // relu is not differentiable at 0; random normal inputs are never within the FD step of it.
      assertGradClose(`${name} grad [${shape}]`, grads[0], finiteDiff(f, [f64(X)], 0, weights, 64), 1e-5, 1e-4);
    }
  });

const binary: [string, (a: any, b: any) => any, (a: number, b: number) => number][] = [
  ['add', add, (a, b) => a + b],
  ['mul', mul, (a, b) => a * b],
];
for (const [name, op, ref] of binary)
  test(`${name} forward and backward`, async () => {
    const rng = new Rng(3 + name.length);
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const A = randn(rng, n), B = randn(rng, n);
      const { out, grads, weights } = await runGraph([{ shape, data: A }, { shape, data: B }], (_g, [a, b]) => op(a, b));
      const f = (xs: Float64Array[]) => xs[0].map((v, i) => ref(v, xs[1][i]));
      const xs = [f64(A), f64(B)];
      assertClose(`${name} [${shape}]`, out, f(xs), 1e-7, 1e-6);
      assertGradClose(`${name} dA`, grads[0], finiteDiff(f, xs, 0, weights, 64), 1e-5, 1e-4);
      assertGradClose(`${name} dB`, grads[1], finiteDiff(f, xs, 1, weights, 64), 1e-5, 1e-4);
    }
  });

test('bias add forward and backward', async () => {
  const rng = new Rng(11);
  for (const [R, N] of [[1, 1], [7, 33], [257, 5], [3, 257]]) {
    const X = randn(rng, R * N), Bv = randn(rng, N);
    const { out, grads, weights } = await runGraph([{ shape: [R, N], data: X }, { shape: [N], data: Bv }], (_g, [x, b]) => addBias(x, b));
    const f = (xs: Float64Array[]) => xs[0].map((v, i) => v + xs[1][i % N]);
    const xs = [f64(X), f64(Bv)];
    assertClose('bias forward', out, f(xs), 1e-7, 1e-6);
    // The bias gradient sums R terms in float32: tolerance grows with sqrt(R).
    assertGradClose('bias dX', grads[0], finiteDiff(f, xs, 0, weights), 1e-5, 1e-4);
    assertGradClose('bias db', grads[1], finiteDiff(f, xs, 1, weights), 1e-5 * Math.sqrt(R), 1e-4);
  }
});

test('sum, mean and sum over the middle axis, forward and backward', async () => {
  const rng = new Rng(12);
  for (const [G, R, C] of [[1, 1, 1], [1, 257, 3], [3, 7, 33], [2, 33, 1]]) {
    const n = G * R * C;
    const X = randn(rng, n);
    const refMiddle = (x: Float64Array) => {
      const o = new Float64Array(G * C);
      for (let g = 0; g < G; g++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) o[g * C + c] += x[(g * R + r) * C + c];
      return o;
    };
    const m = await runGraph([{ shape: [G, R, C], data: X }], (_g, [x]) => sumMiddle(x, G, R, C));
    assertClose('sumMiddle', m.out, refMiddle(f64(X)), 1e-6 * Math.sqrt(R), 1e-5);
    assertGradClose('sumMiddle grad', m.grads[0], finiteDiff((xs) => refMiddle(xs[0]), [f64(X)], 0, m.weights), 1e-5, 1e-4);
    const refSum = (x: Float64Array) => Float64Array.of(x.reduce((a, b) => a + b, 0));
    const s = await runGraph([{ shape: [n], data: X }], (_g, [x]) => sum(x));
    assertClose('sum', s.out, refSum(f64(X)), 1e-6 * Math.sqrt(n), 1e-5);
    assertGradClose('sum grad', s.grads[0], finiteDiff((xs) => refSum(xs[0]), [f64(X)], 0, s.weights), 1e-5, 1e-4);
    const refMean = (x: Float64Array) => Float64Array.of(x.reduce((a, b) => a + b, 0) / n);
    const mm = await runGraph([{ shape: [n], data: X }], (_g, [x]) => mean(x));
    assertClose('mean', mm.out, refMean(f64(X)), 1e-6, 1e-5);
    assertGradClose('mean grad', mm.grads[0], finiteDiff((xs) => refMean(xs[0]), [f64(X)], 0, mm.weights), 1e-6, 1e-4);
  }
});

function refCrossEntropy(logits: Float64Array, labels: Int32Array, B: number, C: number): Float64Array {
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, logits[b * C + j]);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(logits[b * C + j] - m);
    out[b] = m + Math.log(s) - logits[b * C + labels[b]];
  }
  return out;
}

test('softmax cross-entropy forward and backward; argmax accuracy', async () => {
  const rng = new Rng(13);
  for (const [B, C] of [[1, 1], [7, 10], [33, 3], [257, 7], [2, 1000]]) {
    const L = randn(rng, B * C, 3);
    const Y = new Int32Array(B).map(() => rng.int(C));
    const { out, grads, weights } = await runGraph([{ shape: [B, C], data: L }, { shape: [B], data: Y, dtype: 'i32' }], (_g, [l, y]) => crossEntropy(l, y));
    const f = (xs: Float64Array[]) => refCrossEntropy(xs[0], Y, B, C);
    // exp/log in float32 over C terms: 1e-5 relative plus 1e-5 absolute.
    assertClose(`ce [${B},${C}]`, out, f([f64(L)]), 1e-5, 1e-5);
    assertGradClose(`ce grad [${B},${C}]`, grads[0], finiteDiff(f, [f64(L)], 0, weights), 1e-5, 1e-4);
    const acc = await runGraph([{ shape: [B, C], data: L }, { shape: [B], data: Y, dtype: 'i32' }], (_g, [l, y]) => correct(l, y), { grads: false });
    for (let b = 0; b < B; b++) {
      let best = 0;
      for (let j = 1; j < C; j++) if (L[b * C + j] > L[b * C + best]) best = j;
      if (acc.out[b] !== (best === Y[b] ? 1 : 0)) throw new Error(`correct[${b}] = ${acc.out[b]}`);
    }
  }
});

test('argmax takes the first index on ties', async () => {
  const L = new Float32Array([1, 3, 3, 0, 2, 2, 2, 2]);
  const Y = new Int32Array([1, 2]);
  const acc = await runGraph([{ shape: [2, 4], data: L }, { shape: [2], data: Y, dtype: 'i32' }], (_g, [l, y]) => correct(l, y), { grads: false });
  if (acc.out[0] !== 1 || acc.out[1] !== 0) throw new Error(`got ${Array.from(acc.out)}`);
});

test('a tensor larger than one storage binding may hold is a one-line error naming it and the limit', async () => {
  const gpu = await getGpu();
  const limit = gpu.device.limits.maxStorageBufferBindingSize, maxBuffer = gpu.device.limits.maxBufferSize;
  // Where a buffer cannot outgrow a binding, the situation cannot arise.
  if (maxBuffer <= limit) return;
  const elems = Math.min(limit + 1024, maxBuffer) / 4;
  const g = new Graph();
  const y = relu(g.input('huge.activations', [elems]));
  assertThrowsLine(() => new Program(gpu, g, [y]), /^huge\.activations needs \d+ MiB in one storage binding, more than the \d+ MiB that this adapter \(.+\) allows; use a smaller model width or input/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, globalAvgPool, poolOutputSize, PoolOptions } from '../engine/ops/pool.js';
import { Graph } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64, assertThrowsLine } from './helpers/check.js';

type Shape = [number, number, number, number];
const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/** Output size written out from PyTorch's pooling_output_shape, independently of the engine's. */
function outSize(size: number, k: number, s: number, pad: number, ceil: boolean): number {
  const num = size + 2 * pad - k;
  let o = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (o - 1) * s >= size + pad) o--;
  return o;
}

/**
 * Float64 reference of max / average pooling from PyTorch's CPU loops: each window [o*s - pad, o*s - pad + k)
 * clipped to the image; max keeps the first strict maximum in scan order; avg divides by the window clipped to the
 * padded image (count_include_pad) or to the image. Returns the output and, for max, each window's argmax.
 */
function refPool(kind: 'max' | 'avg', x: Float64Array, shape: Shape, o: PoolOptions & { countIncludePad?: boolean }) {
  const [N, C, H, W] = shape;
  const [KH, KW] = pair(o.kernel, 1), [SH, SW] = pair(o.stride ?? o.kernel, 1), [PH, PW] = pair(o.padding, 0);
  const Ho = outSize(H, KH, SH, PH, !!o.ceilMode), Wo = outSize(W, KW, SW, PW, !!o.ceilMode);
  const y = new Float64Array(N * C * Ho * Wo), arg = new Int32Array(y.length);
  for (let pl = 0; pl < N * C; pl++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++) {
        const h0 = oh * SH - PH, w0 = ow * SW - PW;
        const h1 = Math.min(h0 + KH, H + PH), w1 = Math.min(w0 + KW, W + PW);
        const poolSize = (h1 - h0) * (w1 - w0);
        const hs = Math.max(h0, 0), ws = Math.max(w0, 0), he = Math.min(h1, H), we = Math.min(w1, W);
        const out = (pl * Ho + oh) * Wo + ow;
        if (kind === 'max') {
          let best = -Infinity, at = hs * W + ws;
          for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) {
            const v = x[pl * H * W + h * W + w];
            if (v > best) { best = v; at = h * W + w; }
          }
          y[out] = best; arg[out] = at;
        } else {
          let s = 0;
          for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) s += x[pl * H * W + h * W + w];
          y[out] = s / ((o.countIncludePad ?? true) ? poolSize : (he - hs) * (we - ws));
        }
      }
  return { y, arg, Ho, Wo };
}

function refAdaptive(x: Float64Array, shape: Shape, Ho: number, Wo: number): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C * Ho * Wo);
  for (let pl = 0; pl < N * C; pl++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++) {
        const h0 = Math.floor((i * H) / Ho), h1 = Math.ceil(((i + 1) * H) / Ho);
        const w0 = Math.floor((j * W) / Wo), w1 = Math.ceil(((j + 1) * W) / Wo);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[pl * H * W + h * W + w];
        y[(pl * Ho + i) * Wo + j] = s / ((h1 - h0) * (w1 - w0));
      }
  return y;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

test('pool output sizes follow PyTorch (torchvision layers and ceil mode)', () => {
  assert.is(poolOutputSize(112, 3, 2, 1, false), 56); // resnet maxpool
  assert.is(poolOutputSize(147, 3, 2, 0, false), 73); // inception maxpool1
  assert.is(poolOutputSize(112, 3, 2, 0, true), 56); // googlenet, ceil mode
  assert.is(poolOutputSize(112, 3, 2, 0, false), 55);
  assert.is(poolOutputSize(14, 3, 2, 0, true), 7);
  assert.is(poolOutputSize(5, 2, 2, 1, true), 3); // the last window would start in the right padding: dropped
  assert.is(poolOutputSize(7, 2, 2, 0, true), 4);
  for (const [s, k, st, p, c] of [[9, 3, 2, 1, true], [8, 3, 3, 1, true], [10, 4, 3, 2, false], [6, 2, 2, 1, true]] as [number, number, number, number, boolean][]) {
    assert.is(poolOutputSize(s, k, st, p, c), outSize(s, k, st, p, c));
  }
});

const maxCases: [string, Shape, PoolOptions][] = [
  ['2x2 stride 2', [2, 3, 8, 6], { kernel: 2 }],
  ['2x2 stride 2, odd sizes (last row and column unused)', [2, 2, 7, 9], { kernel: 2 }],
  ['3x3 stride 2 padding 1 (resnet stem)', [2, 3, 9, 8], { kernel: 3, stride: 2, padding: 1 }],
  ['3x3 stride 2, overlapping windows (inception)', [1, 4, 11, 7], { kernel: 3, stride: 2 }],
  ['3x3 stride 2 ceil mode', [2, 2, 8, 10], { kernel: 3, stride: 2, ceilMode: true }],
  ['2x2 stride 2 padding 1 ceil mode', [1, 3, 5, 7], { kernel: 2, stride: 2, padding: 1, ceilMode: true }],
  ['non-square 3x2 stride [1, 2]', [2, 2, 6, 7], { kernel: [3, 2], stride: [1, 2] }],
];

// Max pooling copies values and routes gradients: exact up to float32 rounding of the inputs (tolerance 1e-6).
// Random normal inputs have no ties, and the finite-difference step (1e-6) never changes a window's winner.
for (const [name, shape, opts] of maxCases)
  test(`maxPool2d ${name}: forward and gradient match the float64 reference`, async () => {
    const rng = new Rng(name.length);
    const X = randn(rng, size(shape));
    const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => maxPool2d(x, opts));
    const f = (xs: Float64Array[]) => refPool('max', xs[0], shape, opts).y;
    assertClose('forward', out, f([f64(X)]), 1e-6, 1e-6);
    assertGradClose('dx', grads[0], finiteDiff(f, [f64(X)], 0, weights, 64), 1e-5, 1e-4);
  });

test('maxPool2d ties: the gradient goes to the first maximum of each window in scan order', async () => {
  const shape: Shape = [2, 2, 7, 6];
  const rng = new Rng(3);
  // Values from {0, 1, 2}: most windows have tied maxima; overlapping windows (3x3 stride 2) share inputs.
  const X = Float32Array.from({ length: size(shape) }, () => rng.int(3));
  for (const opts of [{ kernel: 2 }, { kernel: 3, stride: 2, padding: 1 }, { kernel: 3, stride: 1, ceilMode: true }] as PoolOptions[]) {
    const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => maxPool2d(x, opts));
    const ref = refPool('max', f64(X), shape, opts);
    assertClose('forward', out, ref.y, 1e-12, 0); // small integers: exact
    const [, , H, W] = shape;
    const dx = new Float64Array(X.length);
    const per = ref.Ho * ref.Wo;
    for (let i = 0; i < ref.y.length; i++) dx[Math.floor(i / per) * H * W + ref.arg[i]] += weights[i];
    let tied = 0;
    for (let i = 0; i < ref.y.length; i++) if (ref.y[i] === 2) tied++;
    assert.ok(tied > ref.y.length / 2, 'most windows hold a tie at the maximum');
    assertClose(`dx with ties ${JSON.stringify(opts)}`, grads[0], dx, 1e-6, 1e-6);
  }
});

const avgCases: [string, Shape, PoolOptions & { countIncludePad?: boolean }][] = [
  ['2x2 stride 2', [2, 3, 8, 6], { kernel: 2 }],
  ['3x3 stride 1 padding 1 (inception branch), count_include_pad', [2, 2, 5, 7], { kernel: 3, stride: 1, padding: 1 }],
  ['3x3 stride 1 padding 1, not counting padding', [2, 2, 5, 7], { kernel: 3, stride: 1, padding: 1, countIncludePad: false }],
  ['3x3 stride 2 padding 1 ceil mode, count_include_pad', [1, 3, 8, 9], { kernel: 3, stride: 2, padding: 1, ceilMode: true }],
  ['3x3 stride 2 padding 1 ceil mode, not counting padding', [1, 3, 8, 9], { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
  ['1x1 stride 2 (resnet option A shortcut)', [2, 3, 7, 8], { kernel: 1, stride: 2 }],
  ['non-square 2x3 stride [2, 1] padding [1, 1]', [2, 2, 7, 6], { kernel: [2, 3], stride: [2, 1], padding: [1, 1] }],
];

// Average pooling sums at most kh*kw values and divides: tolerance 1e-6 absolute, 1e-5 relative.
for (const [name, shape, opts] of avgCases)
  test(`avgPool2d ${name}: forward and gradient match the float64 reference`, async () => {
    const rng = new Rng(name.length + 100);
    const X = randn(rng, size(shape));
    const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => avgPool2d(x, opts));
    const f = (xs: Float64Array[]) => refPool('avg', xs[0], shape, opts).y;
    assertClose('forward', out, f([f64(X)]), 1e-6, 1e-5);
    assertGradClose('dx', grads[0], finiteDiff(f, [f64(X)], 0, weights, 64), 1e-5, 1e-4);
  });

test('avgPool2d count_include_pad changes the border divisors only', async () => {
  const shape: Shape = [1, 1, 4, 4];
  const X = new Float32Array(16).fill(1);
  const incl = await runGraph([{ shape, data: X }], (_g, [x]) => avgPool2d(x, { kernel: 3, stride: 1, padding: 1 }), { grads: false });
  const excl = await runGraph([{ shape, data: X }], (_g, [x]) => avgPool2d(x, { kernel: 3, stride: 1, padding: 1, countIncludePad: false }), { grads: false });
  // A corner window covers 4 of its 9 cells, an edge window 6, an inner one 9.
  assertClose('count_include_pad', incl.out, [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4].map((c) => c / 9), 1e-7, 1e-6);
  assertClose('exclude padding', excl.out, new Float64Array(16).fill(1), 1e-7, 1e-6);
});

const adaptiveCases: [Shape, [number, number]][] = [
  [[2, 3, 7, 7], [7, 7]],
  [[2, 2, 10, 9], [3, 4]], // non-divisible: windows overlap
  [[1, 3, 5, 11], [2, 3]],
  [[2, 2, 3, 4], [5, 6]], // larger than the input: windows repeat inputs
  [[3, 2, 6, 5], [1, 1]],
];

test('adaptiveAvgPool2d forward and gradient match the float64 reference (PyTorch windows)', async () => {
  const rng = new Rng(21);
  for (const [shape, [Ho, Wo]] of adaptiveCases) {
    const X = randn(rng, size(shape));
    const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => adaptiveAvgPool2d(x, [Ho, Wo]));
    const f = (xs: Float64Array[]) => refAdaptive(xs[0], shape, Ho, Wo);
    assertClose(`forward [${shape}] -> ${Ho}x${Wo}`, out, f([f64(X)]), 1e-6, 1e-5);
    assertGradClose(`dx [${shape}] -> ${Ho}x${Wo}`, grads[0], finiteDiff(f, [f64(X)], 0, weights, 64), 1e-5, 1e-4);
  }
});

test('globalAvgPool gives [N, C] means', async () => {
  const shape: Shape = [3, 5, 4, 7];
  const X = randn(new Rng(8), size(shape));
  const { out, grads, weights } = await runGraph([{ shape, data: X }], (_g, [x]) => {
    const y = globalAvgPool(x);
    assert.equal(y.shape, [3, 5]);
    return y;
  });
  const f = (xs: Float64Array[]) => refAdaptive(xs[0], shape, 1, 1);
  // A mean of 28 values: float32 rounding well below 1e-6.
  assertClose('forward', out, f([f64(X)]), 1e-6, 1e-5);
  assertGradClose('dx', grads[0], finiteDiff(f, [f64(X)], 0, weights, 64), 1e-6, 1e-5);
});

test('pool bad input: one-line errors naming the shapes', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3, 2, 2]);
  assertThrowsLine(() => maxPool2d(x, { kernel: 3 }), /^maxPool2d: input 2x2 with kernel 3x3, stride 3x3, padding 0x0 gives an output of 0x0; use a larger input or a smaller kernel$/);
  assertThrowsLine(() => avgPool2d(x, { kernel: 2, padding: 2 }), /padding 2x2 must be at most half the kernel 2x2/);
  assertThrowsLine(() => maxPool2d(g.input('y', [3, 4, 4]), { kernel: 2 }), /maxPool2d: input must be \[N, C, H, W\], got \[3,4,4\]/);
  assertThrowsLine(() => maxPool2d(x, { kernel: 0 }), /kernel must be an integer >= 1/);
  assertThrowsLine(() => adaptiveAvgPool2d(x, [0, 2]), /output size must be positive integers/);
});

test.run();

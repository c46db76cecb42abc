import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d, Conv2dOptions } from '../engine/ops/conv2d.js';
import { Graph, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64, assertThrowsLine } from './helpers/check.js';

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias: boolean;
  opts: Conv2dOptions;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/** Plain-loop float64 convolution, written from the definition (PyTorch semantics, zero padding). */
function refConv(x: Float64Array, w: Float64Array, b: Float64Array | null, c: Case): Float64Array {
  const [N, C, H, W] = c.x;
  const [O, Cg, KH, KW] = c.w;
  const G = c.opts.groups ?? 1;
  const [SH, SW] = pair(c.opts.stride, 1), [PH, PW] = pair(c.opts.padding, 0), [DH, DW] = pair(c.opts.dilation, 1);
  const Ho = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1;
  const Wo = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const Og = O / G;
  const y = new Float64Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          let s = b ? b[o] : 0;
          for (let cl = 0; cl < Cg; cl++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const ih = ho * SH - PH + i * DH, iw = wo * SW - PW + j * DW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += w[((o * Cg + cl) * KH + i) * KW + j] * x[((n * C + g * Cg + cl) * H + ih) * W + iw];
              }
          y[((n * O + o) * Ho + ho) * Wo + wo] = s;
        }
    }
  return y;
}

const cases: Case[] = [
  { name: '3x3 padding 1', x: [2, 3, 7, 5], w: [5, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'stride 2 padding 1, odd sizes', x: [3, 4, 9, 8], w: [6, 4, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { name: 'stride 2 leaving the last rows unused', x: [2, 3, 8, 10], w: [4, 3, 3, 3], bias: false, opts: { stride: 2 } },
  { name: 'stride 3 kernel 2', x: [2, 2, 11, 7], w: [3, 2, 2, 2], bias: true, opts: { stride: 3, padding: 1 } },
  { name: 'dilation 2', x: [2, 3, 9, 11], w: [4, 3, 3, 3], bias: true, opts: { dilation: 2, padding: 2 } },
  { name: 'dilation 2 with stride 2', x: [2, 3, 11, 9], w: [4, 3, 3, 3], bias: false, opts: { dilation: 2, stride: 2, padding: 1 } },
  { name: 'groups 2', x: [2, 6, 7, 7], w: [4, 3, 3, 3], bias: true, opts: { groups: 2, padding: 1 } },
  { name: 'groups 3 with 5 output channels per group', x: [2, 6, 5, 6], w: [15, 2, 3, 3], bias: true, opts: { groups: 3 } },
  { name: 'depthwise stride 2', x: [2, 5, 9, 7], w: [5, 1, 3, 3], bias: true, opts: { groups: 5, stride: 2, padding: 1 } },
  { name: 'depthwise with channel multiplier 2', x: [2, 3, 6, 5], w: [6, 1, 3, 3], bias: false, opts: { groups: 3, padding: 1 } },
  { name: '1x1', x: [3, 7, 5, 3], w: [9, 7, 1, 1], bias: true, opts: {} },
  { name: '1x1 without bias, wide enough for vec4 tiles', x: [3, 64, 9, 12], w: [70, 64, 1, 1], bias: false, opts: {} },
  { name: '1x1 with bias on odd sizes and dilation', x: [5, 33, 7, 5], w: [37, 33, 1, 1], bias: true, opts: { dilation: 2 } },
  { name: '1x1 stride 2 (downsampling shortcut)', x: [2, 6, 7, 9], w: [10, 6, 1, 1], bias: false, opts: { stride: 2 } },
  { name: 'non-square kernel, stride, padding and dilation', x: [2, 3, 9, 13], w: [4, 3, 2, 5], bias: true, opts: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
  { name: '5x5 on one channel, no padding', x: [3, 1, 11, 9], w: [7, 1, 5, 5], bias: true, opts: {} },
  { name: 'one example, kernel as large as the padded input', x: [1, 2, 3, 4], w: [3, 2, 5, 5], bias: true, opts: { padding: [1, 2] } },
  { name: 'several channel and tap tiles', x: [2, 33, 5, 4], w: [37, 33, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'output smaller than one position tile', x: [1, 2, 1, 1], w: [3, 2, 1, 1], bias: true, opts: {} },
];

// Tolerances. Forward: a float32 sum of K = C/groups*kh*kw products of unit normals has rounding error of order
// sqrt(K) * 1e-7; atol 2e-5 * sqrt(K) + rtol 1e-4 leaves a wide margin while an indexing error is of order 1.
// Gradients are checked against central differences of the float64 reference (step 1e-6, exact for this bilinear
// op up to float64 rounding), so the error is the GPU's float32 accumulation: dx sums O/groups*kh*kw terms,
// dw sums N*Ho*Wo terms and db N*Ho*Wo terms; the same sqrt scaling applies.
for (const c of cases)
  test(`conv2d ${c.name}: forward and gradients match the float64 reference`, async () => {
    const rng = new Rng(c.name.length * 7 + 1);
    const [O] = c.w;
    const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b)), B = randn(rng, O);
    const inputs = [{ shape: c.x, data: X }, { shape: c.w, data: Wt }];
    if (c.bias) inputs.push({ shape: [O] as any, data: B });
    const { out, grads, weights } = await runGraph(inputs, (_g, [x, w, b]) => conv2d(x, w, b ?? null, c.opts));
    const f = (xs: Float64Array[]) => refConv(xs[0], xs[1], c.bias ? xs[2] : null, c);
    const xs = c.bias ? [f64(X), f64(Wt), f64(B)] : [f64(X), f64(Wt)];
    const want = f(xs);
    assert.is(out.length, want.length, 'output size');
    const K = c.w[1] * c.w[2] * c.w[3];
    assertClose(`forward`, out, want, 2e-5 * Math.sqrt(K), 1e-4);
    const positions = out.length / O;
    const dxTerms = (O / (c.opts.groups ?? 1)) * c.w[2] * c.w[3];
    assertGradClose('dx', grads[0], finiteDiff(f, xs, 0, weights), 2e-5 * Math.sqrt(dxTerms), 1e-3);
    assertGradClose('dw', grads[1], finiteDiff(f, xs, 1, weights), 2e-5 * Math.sqrt(positions), 1e-3);
    if (c.bias) assertGradClose('db', grads[2], finiteDiff(f, xs, 2, weights), 2e-5 * Math.sqrt(positions), 1e-3);
  });

/** Weight and bias gradients of sum(conv(x) * r) with the weights and bias as parameters, in `groups` gradient groups. */
async function paramGrads(c: Case, X: Float32Array, Wt: Float32Array, B: Float32Array, R: Float32Array, groups: number) {
  const gpu = await getGpu();
  const g = new Graph();
  g.gradGroups = groups;
  const x = g.input('x', c.x);
  const w = g.param(new Parameter('conv.weight', c.w, Wt));
  const b = g.param(new Parameter('conv.bias', [c.w[0]], B));
  const y = conv2d(x, w, b, c.opts);
  const r = g.input('r', y.shape);
  const gm = gradients(sum(mul(y, r)), [w, b]);
  const prog = new Program(gpu, g, [gm.get(w)!, gm.get(b)!]);
  prog.write(x, X);
  prog.write(r, R);
  prog.run();
  const dw = (await prog.read(gm.get(w)!)) as Float32Array;
  const db = (await prog.read(gm.get(b)!)) as Float32Array;
  assert.equal(gm.get(w)!.shape, groups > 1 ? [groups, ...c.w] : c.w);
  assert.equal(gm.get(b)!.shape, groups > 1 ? [groups, c.w[0]] : [c.w[0]]);
  assert.is(g.perExample.size, 0, 'conv records no per-example factors');
  return { dw, db };
}

/**
 * Exact float64 weight and bias gradients of sum(conv(x) * r) over examples [from, to), from the definition:
 * dW[o, c, i, j] = sum over n, ho, wo of r[n, o, ho, wo] * x[n, g*Cg + c, ih, iw]; dB[o] = sum of r[n, o, ., .].
 */
function refParamGrads(c: Case, X: Float32Array, Wt: Float32Array, R: Float32Array, from: number, to: number) {
  const [, C, H, W] = c.x;
  const [O, Cg, KH, KW] = c.w;
  const G = c.opts.groups ?? 1;
  const [SH, SW] = pair(c.opts.stride, 1), [PH, PW] = pair(c.opts.padding, 0), [DH, DW] = pair(c.opts.dilation, 1);
  const Ho = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1;
  const Wo = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const dw = new Float64Array(Wt.length), db = new Float64Array(O);
  for (let n = from; n < to; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / (O / G));
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          const r = R[((n * O + o) * Ho + ho) * Wo + wo];
          db[o] += r;
          for (let cl = 0; cl < Cg; cl++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const ih = ho * SH - PH + i * DH, iw = wo * SW - PW + j * DW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                dw[((o * Cg + cl) * KH + i) * KW + j] += r * X[((n * C + g * Cg + cl) * H + ih) * W + iw];
              }
        }
    }
  return { dw, db };
}

test('conv2d grouped gradients (graph.gradGroups): per-group references, and slices sum to the full gradient', async () => {
  const rng = new Rng(5);
  const groupedCases: [Case, number[]][] = [
    [{ name: 'grouped', x: [6, 4, 7, 5], w: [6, 2, 3, 3], bias: true, opts: { groups: 2, stride: 2, padding: 1 } }, [2, 3, 6]],
    [{ name: '1x1', x: [4, 3, 3, 3], w: [5, 3, 1, 1], bias: true, opts: {} }, [4]],
    [{ name: '1x1 with 12 examples', x: [12, 33, 2, 3], w: [32, 33, 1, 1], bias: true, opts: {} }, [2, 3, 12]],
  ];
  for (const [c, groupCounts] of groupedCases) {
    const N = c.x[0];
    const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b)), B = randn(rng, c.w[0]);
    const outSize = refConv(f64(X), f64(Wt), null, c).length;
    const R = randn(rng, outSize);
    const full = await paramGrads(c, X, Wt, B, R, 1);
    const ref = refParamGrads(c, X, Wt, R, 0, N);
    const positions = outSize / c.w[0];
    const tol = 2e-5 * Math.sqrt(positions);
    assertClose('ungrouped dw', full.dw, ref.dw, tol, 1e-4);
    assertClose('ungrouped db', full.db, ref.db, tol, 1e-4);
    for (const K of groupCounts) {
      const { dw, db } = await paramGrads(c, X, Wt, B, R, K);
      const P = Wt.length, Oc = c.w[0];
      const sumW = new Float64Array(P), sumB = new Float64Array(Oc);
      for (let k = 0; k < K; k++) {
        const part = refParamGrads(c, X, Wt, R, (k * N) / K, ((k + 1) * N) / K);
        assertClose(`dw group ${k} of ${K}`, dw.subarray(k * P, (k + 1) * P), part.dw, tol, 1e-4);
        assertClose(`db group ${k} of ${K}`, db.subarray(k * Oc, (k + 1) * Oc), part.db, tol, 1e-4);
        for (let i = 0; i < P; i++) sumW[i] += dw[k * P + i];
        for (let i = 0; i < Oc; i++) sumB[i] += db[k * Oc + i];
      }
      assertClose(`dw groups of ${K} sum to the full gradient`, sumW, full.dw, tol, 1e-4);
      assertClose(`db groups of ${K} sum to the full gradient`, sumB, full.db, tol, 1e-4);
    }
  }
});

test('conv2d bad input: one-line errors naming the shapes', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3, 3, 3]);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 3, 5, 5]), null), /^conv2d: input 3x3 with kernel 5, padding 0 gives an output of size -1; use a larger input or more padding$/);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 2, 3, 3]), null), /weight \[4,2,3,3\] expects 2 input channels but input \[2,3,3,3\] has 3/);
  assertThrowsLine(() => conv2d(g.input('x', [2, 4, 5, 5]), g.input('w', [4, 1, 3, 3]), null, { groups: 2 }), /weight \[4,1,3,3\] expects 2 input channels \(1 per group x 2 groups\) but input \[2,4,5,5\] has 4/);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 1, 3, 3]), null, { groups: 2 }), /divisible by groups 2/);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 3, 3, 3]), g.input('b', [3]), { padding: 1 }), /bias must be \[4\]/);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 3, 3, 3]), null, { stride: 0 }), /stride must be an integer >= 1/);
  assertThrowsLine(() => conv2d(g.input('x', [3, 3, 3]), g.input('w', [4, 3, 3, 3]), null), /input must be \[N, C, H, W\], got \[3,3,3\]/);
  assertThrowsLine(() => conv2d(x, g.input('w', [4, 3, 3, 3]), null, { stride: 2, dilation: 2 }), /input 3x3 with kernel 3, padding 0, stride 2, dilation 2 gives an output of size 0/);
  const gg = new Graph();
  gg.gradGroups = 4;
  const w = gg.param(new Parameter('conv.weight', [2, 3, 3, 3], new Float32Array(54)));
  const y = conv2d(gg.input('x', [6, 3, 5, 5]), w, null);
  assertThrowsLine(() => gradients(sum(y), [w]), /conv.weight: batch of 6 examples does not split into 4 equal gradient groups/);
});

test.run();

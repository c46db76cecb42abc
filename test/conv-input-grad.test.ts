// The implicit-GEMM convolution input gradient of the gpu plans (shaders/conv2d_tiled.wgsl, MODE 1), forced on this
// adapter: strides 1-3 with kernels 1x1 to 7x7, padding 0-3, dilation 1-2, grouped and depthwise layers, inputs
// smaller than the stride, every tile shape with the channel and pixel counts of a stride phase on both sides of its
// edges, with and without the ReLU-gradient mask folded into the store. The reference is a float64 scatter written
// here from the forward definition (each output position adds its weighted gradient to the input pixels it read),
// and one odd case is also checked by finite differences of a float64 forward convolution.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d, Conv2dOptions } from '../engine/ops/conv2d.js';
import { Graph } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { mul, relu } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { GEMM_TILES, type GemmTile } from '../engine/ops/gemm_tiles.js';
import { randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

type Four = [number, number, number, number];
interface DxCase { x: Four; w: Four; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }

interface Geometry { N: number; C: number; H: number; W: number; O: number; Cg: number; KH: number; KW: number; Ho: number; Wo: number; G: number }

function geometry(c: DxCase): Geometry {
  const [N, C, H, W] = c.x, [O, Cg, KH, KW] = c.w;
  const Ho = Math.floor((H + 2 * c.padding[0] - c.dilation[0] * (KH - 1) - 1) / c.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * c.padding[1] - c.dilation[1] * (KW - 1) - 1) / c.stride[1]) + 1;
  return { N, C, H, W, O, Cg, KH, KW, Ho, Wo, G: c.groups };
}

/**
 * Calls `visit(xIndex, wIndex, yIndex)` for every product term X[x]·W[w] of the forward output Y[y] (NCHW, OIHW,
 * PyTorch's cross-correlation with zero padding): both references below are built on this one loop nest.
 */
function forEachTerm(c: DxCase, visit: (xi: number, wi: number, yi: number) => void) {
  const g = geometry(c), Og = g.O / g.G;
  for (let n = 0; n < g.N; n++)
    for (let o = 0; o < g.O; o++)
      for (let oy = 0; oy < g.Ho; oy++)
        for (let ox = 0; ox < g.Wo; ox++)
          for (let ci = 0; ci < g.Cg; ci++)
            for (let kh = 0; kh < g.KH; kh++)
              for (let kw = 0; kw < g.KW; kw++) {
                const iy = oy * c.stride[0] - c.padding[0] + kh * c.dilation[0], ix = ox * c.stride[1] - c.padding[1] + kw * c.dilation[1];
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                const channel = Math.floor(o / Og) * g.Cg + ci;
                visit(((n * g.C + channel) * g.H + iy) * g.W + ix, ((o * g.Cg + ci) * g.KH + kh) * g.KW + kw, ((n * g.O + o) * g.Ho + oy) * g.Wo + ox);
              }
}

/** dX of the convolution for the output gradient dY: every term scatters W·dY[y] into the pixel it read. */
function inputGrad64(c: DxCase, dY: Float64Array, Wt: Float64Array): Float64Array {
  const dX = new Float64Array(c.x.reduce((a, b) => a * b));
  forEachTerm(c, (xi, wi, yi) => { dX[xi] += Wt[wi] * dY[yi]; });
  return dX;
}

function conv64(c: DxCase, X: Float64Array, Wt: Float64Array): Float64Array {
  const g = geometry(c);
  const Y = new Float64Array(g.N * g.O * g.Ho * g.Wo);
  forEachTerm(c, (xi, wi, yi) => { Y[yi] += Wt[wi] * X[xi]; });
  return Y;
}

const options = (c: DxCase): Conv2dOptions => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });

/**
 * dX of sum(conv(x) · dY) on the gpu plans (optionally on one tile); with `masked` the convolution reads relu(x), so
 * dX is also zeroed where x <= 0, which the plans fold into the input gradient's store (checked here).
 */
async function gpuInputGrad(c: DxCase, X: Float32Array, Wt: Float32Array, dY: Float32Array, masked: boolean, tile?: GemmTile): Promise<Float32Array> {
  return withPlans('gpu', async () => {
    const g = new Graph();
    const x = g.input('x', c.x), w = g.input('w', c.w);
    const a = masked ? relu(x) : x;
    const y = conv2d(a, w, null, options(c));
    const r = g.input('r', y.shape);
    const dx = gradients(sum(mul(y, r)), [x]).get(x)!;
    // With a mask, the ReLU's output is kept (and ordered first) so that it runs before the gradient that it masks.
    const prog = new Program(await getGpu(), g, masked ? [dx, a] : [dx]);
    const epilogues = [...prog.fusion.passes].filter(([n]) => n.op!.type === 'conv2d_input_grad').map(([, f]) => !!f.epilogue.mask);
    assert.equal(epilogues, masked ? [true] : [], `${describe(c)}: the mask is folded into the input gradient exactly when the conv reads a ReLU`);
    prog.write(x, X); prog.write(w, Wt); prog.write(r, dY);
    prog.run();
    return (await prog.read(dx)) as Float32Array;
  }, { tile });
}

const describe = (c: DxCase) => `x [${c.x}] w [${c.w}] s ${c.stride} p ${c.padding} d ${c.dilation} g ${c.groups}`;

async function check(c: DxCase, masked: boolean, seed: number, tile?: GemmTile) {
  const rng = new Rng(seed);
  const g = geometry(c);
  assert.ok(g.Ho >= 1 && g.Wo >= 1, `${describe(c)} is a valid convolution`);
  const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b)), dY = randn(rng, g.N * g.O * g.Ho * g.Wo);
  const got = await gpuInputGrad(c, X, Wt, dY, masked, tile);
  const want = inputGrad64(c, f64(dY), f64(Wt));
  if (masked) want.forEach((_, i) => { if (!(X[i] > 0)) want[i] = 0; });
  // dX sums at most O/groups · KH · KW float32 products of unit normals.
  const terms = (g.O / g.G) * g.KH * g.KW;
  const label = `${describe(c)}${masked ? ' masked' : ''}${tile ? ` tile ${tile.BM}x${tile.BN}` : ''}`;
  assertClose(label, got, want, 2e-5 * Math.sqrt(terms), 1e-4);
}

const both = (v: number): [number, number] => [v, v];
/** Channels per layer, cycling through one group, depthwise with a channel multiplier of 2, and 3 groups. */
const channelPlans = [{ C: 5, O: 4, groups: 1 }, { C: 5, O: 10, groups: 5 }, { C: 6, O: 9, groups: 3 }];

test('input gradient, strides 2 and 3: kernels 1x1-7x7, padding 0-3, dilation 1-2, grouped and depthwise, odd sizes, masked or not', async () => {
  let i = 0;
  for (const k of [1, 3, 5, 7])
    for (const s of [2, 3])
      for (const d of [1, 2]) {
        const { C, O, groups } = channelPlans[i % 3];
        const [H, W] = [11, 7];
        // Padding cycles through 0-3, raised where the dilated kernel would not fit the input.
        const pad = Math.max(i % 4, Math.ceil((d * (k - 1) + 1 - Math.min(H, W)) / 2));
        const c: DxCase = { x: [3, C, H, W], w: [O, C / groups, k, k], stride: both(s), padding: both(pad), dilation: both(d), groups };
        await check(c, i % 2 === 1, 100 + i);
        i++;
      }
});

test('input gradient: mixed strides and dilations, inputs smaller than the stride, kernels smaller than the stride, stride 1', async () => {
  const cases: DxCase[] = [
    // Rows and columns in different phase counts; a 2x5 kernel with a stride of 3 leaves some phases one tap.
    { x: [3, 5, 11, 7], w: [4, 5, 2, 5], stride: [3, 2], padding: [1, 2], dilation: [2, 1], groups: 1 },
    // H and W smaller than the stride: some phases hold no pixels at all.
    { x: [2, 3, 2, 1], w: [4, 3, 1, 1], stride: [3, 3], padding: [0, 0], dilation: [1, 1], groups: 1 },
    { x: [2, 4, 2, 3], w: [6, 2, 3, 3], stride: [3, 4], padding: [1, 1], dilation: [1, 1], groups: 2 },
    // 1x1 stride 2 and 3 (a downsampling shortcut): only one phase has a tap, the others must come out zero.
    { x: [3, 5, 9, 11], w: [7, 5, 1, 1], stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 },
    { x: [2, 6, 10, 8], w: [6, 1, 1, 1], stride: [3, 3], padding: [1, 0], dilation: [1, 1], groups: 6 },
    // A 2x2 kernel with stride 3: phase 2 of each axis gets no tap; with dilation 2 a different phase is empty.
    { x: [2, 3, 11, 10], w: [5, 3, 2, 2], stride: [3, 3], padding: [0, 1], dilation: [2, 2], groups: 1 },
    // Dilation sharing a factor with the stride (2 and 2): every tap of the kernel lands on the same phase.
    { x: [2, 3, 9, 9], w: [4, 3, 3, 3], stride: [2, 2], padding: [2, 3], dilation: [2, 2], groups: 1 },
    // Stride 1: one phase with every tap, as before the phases were split.
    { x: [3, 5, 9, 7], w: [4, 5, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 },
    { x: [2, 6, 7, 8], w: [6, 2, 5, 3], stride: [1, 1], padding: [3, 0], dilation: [2, 1], groups: 3 },
  ];
  for (const [i, c] of cases.entries()) await check(c, i % 2 === 0, 200 + i);
});

test('input gradient on every tile shape: channels and a stride phase\'s pixels one short of, at and past the tile edges', async () => {
  for (const [i, tile] of GEMM_TILES.entries()) {
    // Stride 2 on 15x17 gives phases of 72, 64, 63 and 56 pixels (7x17: 36, 32, 27, 24); the batch scales them to
    // straddle BN. Channels per group straddle BM: one past it, then one short of it. 5 output channels make
    // K = 5 x (4, 2, 2 or 1 taps) cross the 16-wide K slice in some phases and not in others. Every other tile stores
    // through the mask (one kernel per tile keeps the shader compilations few).
    const [N, H, W] = tile.BN === 128 ? [2, 15, 17] : tile.BN === 64 ? [1, 15, 17] : [1, 7, 17];
    const past: DxCase = { x: [1, tile.BM + 1, 9, 9], w: [5, tile.BM + 1, 3, 3], stride: both(2), padding: both(1), dilation: both(1), groups: 1 };
    const short: DxCase = { x: [N, tile.BM - 1, H, W], w: [5, tile.BM - 1, 3, 3], stride: both(2), padding: both(1), dilation: both(1), groups: 1 };
    await check(past, i % 2 === 0, 300 + i, tile);
    await check(short, i % 2 === 0, 310 + i, tile);
  }
});

test('input gradient by finite differences of a float64 forward convolution (odd sizes, stride 2x3, dilation, groups)', async () => {
  const c: DxCase = { x: [3, 6, 11, 7], w: [4, 3, 3, 5], stride: [2, 3], padding: [1, 2], dilation: [2, 1], groups: 2 };
  const rng = new Rng(400);
  const g = geometry(c);
  const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b)), dY = randn(rng, g.N * g.O * g.Ho * g.Wo);
  const got = await gpuInputGrad(c, X, Wt, dY, false);
  const fd = finiteDiff((xs) => conv64(c, xs[0], xs[1]), [f64(X), f64(Wt)], 0, dY, 60);
  assertGradClose(describe(c), got, fd, 2e-5 * Math.sqrt((g.O / g.G) * g.KH * g.KW), 1e-3);
});

test.run();

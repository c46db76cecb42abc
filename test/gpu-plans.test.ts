// The gpu plan family (workgroup-memory tiles, split-K, implicit-GEMM convolutions) forced on this adapter and checked
// against float64 plain loops written here, on odd sizes and on both sides of every tile edge; backward paths by
// finite differences. CI has no GPU: this is where those kernels are tested.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matmul, dispatchMatmul, Product } from '../engine/ops/matmul.js';
import { conv2d, Conv2dOptions } from '../engine/ops/conv2d.js';
import { Graph, OpDef, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { GEMM_TILES, planGemm } from '../engine/ops/gemm_tiles.js';
import { choosePlans, PlanError } from '../engine/plans.js';
import type { AdapterReport } from '../engine/device.js';
import { crossEntropy, correct } from '../engine/ops/loss.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64, assertThrowsLine } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

/** C = op(A) · op(B) in float64, A [M,K] or [K,M], B [K,N] or [N,K]. */
function product64(A: Float64Array, B: Float64Array, M: number, N: number, K: number, tA: boolean, tB: boolean): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
      C[i * N + j] = s;
    }
  return C;
}

async function forward(M: number, N: number, K: number, tA: boolean, tB: boolean, rng: Rng, batch = 1) {
  const A = randn(rng, batch * M * K), B = randn(rng, batch * K * N);
  const lead = batch > 1 ? [batch] : [];
  const { out } = await runGraph(
    [{ shape: [...lead, ...(tA ? [K, M] : [M, K])], data: A }, { shape: [...lead, ...(tB ? [N, K] : [K, N])], data: B }],
    (_g, [a, b]) => matmul(a, b, { transA: tA, transB: tB }), { grads: false },
  );
  const want = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    want.set(product64(f64(A.subarray(z * M * K, (z + 1) * M * K)), f64(B.subarray(z * K * N, (z + 1) * K * N)), M, N, K, tA, tB), z * M * N);
  }
  assertClose(`${batch}x ${M}x${N}x${K} tA=${tA} tB=${tB}`, out, want, 1e-4 * Math.sqrt(K), 1e-4);
}

test('every tile shape, all transpose cases: one short of, at and one past the tile edges, and a K slice edge', async () => {
  const rng = new Rng(21);
  const cases = [[false, false], [false, true], [true, true], [true, false]];
  for (const [i, tile] of GEMM_TILES.entries()) {
    await withPlans('gpu', async () => {
      // Two transpose cases per tile, all four over the tiles (each case's loads and stores are tile-independent code).
      for (const [tA, tB] of [cases[i % 4], cases[(i + 2) % 4]]) {
        for (const [M, N, K] of [[tile.BM - 1, tile.BN + 1, 17], [tile.BM + 1, tile.BN - 1, 16], [tile.BM, tile.BN, 33]]) {
          await forward(M, N, K, tA, tB, rng);
        }
      }
    }, { tile });
  }
});

test('batched products and vec4 operands (sizes divisible by 4) on the default tile choice', async () => {
  const rng = new Rng(22);
  await withPlans('gpu', async () => {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) await forward(68, 36, 40, tA, tB, rng, 3);
    await forward(9, 7, 33, true, false, rng, 2);
  });
});

test('split-K: forced on odd K in all transpose cases, and chosen for a small output with a long K (1024 -> 10)', async () => {
  const rng = new Rng(23);
  await withPlans('gpu', async () => {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) await forward(13, 10, 101, tA, tB, rng, 2);
  }, { splits: 3, tile: GEMM_TILES[4] });
  // Inception-V3's first input gradient at batch 32: 2.86M pixels fit no 32-column tile grid, so a wider tile is taken.
  assert.ok(planGemm(3, 32 * 299 * 299, 288, 1, 32768).grid[0] <= 65535, 'grid within limits');
  const plan = planGemm(128, 10, 1024, 1, 32768);
  assert.ok(plan.splits > 1, `128x10x1024 should split K, got ${plan.splits}`);
  assert.ok(plan.kChunk * plan.splits >= 1024 && plan.kChunk * (plan.splits - 1) < 1024, 'the chunks cover K exactly once');
  await withPlans('gpu', async () => {
    await forward(128, 10, 1024, false, true, rng);
    await forward(1024, 10, 128, true, false, rng);
  });
});

test('matmul backward on the gpu plan by finite differences (odd sizes, small tile, split-K)', async () => {
  const rng = new Rng(24);
  for (const splits of [undefined, 2]) {
    await withPlans('gpu', async () => {
      for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
        const [M, N, K] = [5, 37, 35];
        const A = randn(rng, M * K), B = randn(rng, K * N);
        const { out, grads, weights } = await runGraph(
          [{ shape: tA ? [K, M] : [M, K], data: A }, { shape: tB ? [N, K] : [K, N], data: B }],
          (_g, [a, b]) => matmul(a, b, { transA: tA, transB: tB }),
        );
        const f = (xs: Float64Array[]) => product64(xs[0], xs[1], M, N, K, tA, tB);
        const xs = [f64(A), f64(B)];
        assertClose('forward', out, f(xs), 1e-3, 1e-4);
        assertGradClose(`dA tA=${tA} tB=${tB}`, grads[0], finiteDiff(f, xs, 0, weights), 1e-4 * Math.sqrt(N), 1e-3);
        assertGradClose(`dB tA=${tA} tB=${tB}`, grads[1], finiteDiff(f, xs, 1, weights), 1e-4 * Math.sqrt(M), 1e-3);
      }
    }, { tile: GEMM_TILES[4], splits });
  }
});

test('strided, broadcast and folded-column products (the 1x1 convolution layout), plain and accumulating', async () => {
  const rng = new Rng(25);
  const cases: Product[] = [
    { M: 9, N: 35, K: 17, transA: false, transB: false, batch: 5, strideA: 0, strideB: 17 * 35 },
    { M: 33, N: 64, K: 130, transA: true, transB: false, batch: 2, strideA: 33 * 130, strideB: 0 },
    { M: 7, N: 9, K: 15, transA: false, transB: true, batch: 2, strideA: 0, strideB: 9 * 15, strideC: 7 * 9 + 2, accumulate: true },
    { M: 9, N: 5 * 35, K: 17, transA: false, transB: false, batch: 1, cols: 35, strideA: 0, strideB: 17 * 35 + 3, strideC: 9 * 35 + 5 },
    { M: 64, N: 8 * 36, K: 40, transA: false, transB: false, batch: 1, cols: 36, strideA: 0, strideB: 40 * 36 + 8, strideC: 64 * 36 + 4, accumulate: true },
  ];
  await withPlans('gpu', async () => {
    for (const p of cases) {
      const cols = p.cols ?? p.N, entries = p.batch * (p.N / cols), strideC = p.strideC ?? p.M * p.N;
      const A = randn(rng, p.strideA === 0 ? p.M * p.K : entries * p.strideA);
      const B = randn(rng, p.strideB === 0 ? p.K * p.N : entries * p.strideB);
      const size = (entries - 1) * strideC + p.M * cols;
      const C0 = randn(rng, size);
      const want = p.accumulate ? f64(C0) : new Float64Array(size);
      for (let e = 0; e < entries; e++) {
        const Ae = f64(A.subarray(e * p.strideA, e * p.strideA + p.M * p.K)), Be = f64(B.subarray(e * p.strideB, e * p.strideB + p.K * cols));
        const one = product64(Ae, Be, p.M, cols, p.K, p.transA, p.transB);
        one.forEach((v, i) => { want[e * strideC + i] += v; });
      }
      const g = new Graph();
      const a = g.input('a', [A.length]), b = g.input('b', [B.length]), c0 = g.input('c0', [size]);
      const op: OpDef = { type: 'test_product', compile: (n, c) => dispatchMatmul(c, p, c.buf(a), c.buf(b), c.buf(c0), 'test product') };
      const out = g.op(op, [a, b, c0], [1], {});
      const prog = new Program(await getGpu(), g, [out]);
      prog.write(a, A); prog.write(b, B); prog.write(c0, C0);
      prog.run();
      const got = await prog.read(c0);
      // Gaps between results keep C0's values; the float64 reference starts from C0 only where it accumulates.
      if (!p.accumulate) for (let i = 0; i < size; i++) if (!isResult(p, i)) want[i] = C0[i];
      assertClose(`${p.batch} of ${p.M}x${p.N}x${p.K} cols ${cols}`, got, want, 1e-4 * Math.sqrt(p.K), 1e-4);
    }
  });
});

function isResult(p: Product, i: number): boolean {
  const cols = p.cols ?? p.N, strideC = p.strideC ?? p.M * p.N;
  return i % strideC < p.M * cols;
}

interface ConvCase { x: [number, number, number, number]; w: [number, number, number, number]; opts: Conv2dOptions; bias: boolean }

const two = (v: Conv2dOptions['stride'], d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/** Float64 convolution from the definition (PyTorch's cross-correlation, NCHW / OIHW). */
function conv64(X: Float64Array, Wt: Float64Array, Bs: Float64Array | null, c: ConvCase): Float64Array {
  const [N, C, H, W] = c.x, [O, Cg, KH, KW] = c.w, G = c.opts.groups ?? 1;
  const [SH, SW] = two(c.opts.stride, 1), [PH, PW] = two(c.opts.padding, 0), [DH, DW] = two(c.opts.dilation, 1);
  const Ho = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1, Wo = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const Y = new Float64Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / (O / G));
      for (let y = 0; y < Ho; y++)
        for (let x = 0; x < Wo; x++) {
          let s = Bs ? Bs[o] : 0;
          for (let ci = 0; ci < Cg; ci++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const iy = y * SH - PH + i * DH, ix = x * SW - PW + j * DW;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += Wt[((o * Cg + ci) * KH + i) * KW + j] * X[((n * C + grp * Cg + ci) * H + iy) * W + ix];
              }
          Y[((n * O + o) * Ho + y) * Wo + x] = s;
        }
    }
  return Y;
}

const convCases: ConvCase[] = [
  { x: [2, 3, 9, 7], w: [5, 3, 3, 3], opts: { padding: 1 }, bias: true },
  { x: [3, 4, 11, 10], w: [6, 2, 3, 2], opts: { stride: [2, 3], padding: [1, 0], dilation: [1, 2], groups: 2 }, bias: false },
  { x: [2, 6, 8, 8], w: [6, 1, 3, 3], opts: { padding: 1, groups: 6 }, bias: true },
  { x: [2, 5, 6, 7], w: [7, 5, 1, 1], opts: {}, bias: true },
  { x: [1, 2, 13, 13], w: [3, 2, 5, 5], opts: { stride: 2, padding: 2 }, bias: false },
];

// The tile per case: the smallest and the 64x64 ones, and once the 128x64 one.
const convTiles = [4, 3, 4, 1, 4];
for (const [i, c] of convCases.entries())
  test(`implicit-GEMM conv2d forward, input and weight gradients: x [${c.x}] w [${c.w}] ${JSON.stringify(c.opts)}`, async () => {
    const rng = new Rng(c.x.reduce((a, b) => a * 7 + b, 3));
    const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b), 0.5), B = randn(rng, c.w[0]);
    const inputs = [{ shape: c.x, data: X }, { shape: c.w, data: Wt }, ...(c.bias ? [{ shape: [c.w[0]], data: B }] : [])];
    {
      const tile = GEMM_TILES[convTiles[i]];
      const { out, grads, weights } = await withPlans('gpu', () => runGraph(inputs, (_g, [x, w, b]) => conv2d(x, w, c.bias ? b : null, c.opts)), { tile });
      const f = (xs: Float64Array[]) => conv64(xs[0], xs[1], c.bias ? xs[2] : null, c);
      const xs = [f64(X), f64(Wt), ...(c.bias ? [f64(B)] : [])];
      assertClose('forward', out, f(xs), 1e-4, 1e-4);
      assertGradClose('dx', grads[0], finiteDiff(f, xs, 0, weights), 2e-4, 1e-3);
      assertGradClose('dw', grads[1], finiteDiff(f, xs, 1, weights), 2e-4 * Math.sqrt(out.length), 1e-3);
      if (c.bias) assertGradClose('db', grads[2], finiteDiff(f, xs, 2, weights), 2e-4 * Math.sqrt(out.length), 1e-3);
    }
  });

test('implicit-GEMM weight gradient in gradient groups: each group its own examples (split-K parts, some empty)', async () => {
  const c: ConvCase = { x: [6, 3, 7, 6], w: [4, 3, 3, 3], opts: { padding: 1, stride: 2 }, bias: false };
  const rng = new Rng(31);
  const X = randn(rng, c.x.reduce((a, b) => a * b)), Wt = randn(rng, c.w.reduce((a, b) => a * b)), groups = 3;
  const dw = await withPlans('gpu', async () => {
    const g = new Graph();
    g.gradGroups = groups;
    const x = g.input('x', c.x);
    const w = g.param(new Parameter('conv.weight', c.w, Wt));
    const y = conv2d(x, w, null, c.opts);
    const r = g.input('r', y.shape);
    const grad = gradients(sum(mul(y, r)), [w]).get(w)!;
    const prog = new Program(await getGpu(), g, [grad]);
    prog.write(x, X);
    const R = randn(new Rng(32), y.size);
    prog.write(r, R);
    prog.run();
    return { got: (await prog.read(grad)) as Float32Array, R, outShape: y.shape };
  });
  const per = c.x[0] / groups, xSize = X.length / c.x[0], rSize = dw.R.length / c.x[0];
  for (let k = 0; k < groups; k++) {
    // d/dW of sum(conv(x_k) * r_k) by finite differences of the float64 convolution over group k's examples.
    const sub: ConvCase = { ...c, x: [per, c.x[1], c.x[2], c.x[3]] };
    const f = (xs: Float64Array[]) => conv64(xs[0], xs[1], null, sub);
    const xs = [f64(X.subarray(k * per * xSize, (k + 1) * per * xSize)), f64(Wt)];
    const fd = finiteDiff(f, xs, 1, dw.R.subarray(k * per * rSize, (k + 1) * per * rSize), 108);
    assertGradClose(`group ${k}`, dw.got.subarray(k * Wt.length, (k + 1) * Wt.length), fd, 1e-3, 1e-3);
  }
});

test('subgroup cross-entropy (forward, gradient by finite differences, first-argmax accuracy with ties) on wide heads', async () => {
  const rng = new Rng(41);
  for (const [B, C] of [[5, 1000], [3, 67]]) {
    const L = randn(rng, B * C, 3);
    const labels = Int32Array.from({ length: B }, () => rng.int(C));
    // Row 0's maximum appears twice, the label at the second copy: the first index wins, so it is not correct.
    L[10] = 50; L[C - 3] = 50; labels[0] = C - 3;
    if (B > 1) labels[1] = 0;
    const logits64 = f64(L);
    const ce = (xs: Float64Array[]) => {
      const out = new Float64Array(B);
      for (let b = 0; b < B; b++) {
        let m = -Infinity;
        for (let j = 0; j < C; j++) m = Math.max(m, xs[0][b * C + j]);
        let s = 0;
        for (let j = 0; j < C; j++) s += Math.exp(xs[0][b * C + j] - m);
        out[b] = m + Math.log(s) - xs[0][b * C + labels[b]];
      }
      return out;
    };
    const right = new Float64Array(B).map((_, b) => {
      let best = 0;
      for (let j = 1; j < C; j++) if (L[b * C + j] > L[b * C + best]) best = j;
      return best === labels[b] ? 1 : 0;
    });
    const { loss, acc } = await withPlans('gpu,subgroups', async () => {
      const inputs = [{ shape: [B, C], data: L }, { shape: [B], data: labels, dtype: 'i32' as const }];
      const loss = await runGraph(inputs, (_g, [x, y]) => crossEntropy(x, y));
      const acc = await runGraph(inputs, (_g, [x, y]) => correct(x, y), { grads: false });
      return { loss, acc };
    });
    assertClose(`loss ${B}x${C}`, loss.out, ce([logits64]), 1e-4, 1e-5);
    assertGradClose(`gradient ${B}x${C}`, loss.grads[0], finiteDiff(ce, [logits64], 0, loss.weights, 40), 1e-5, 1e-3);
    assertClose(`correct ${B}x${C}`, acc.out, right, 0.5, 0);
    assert.is(acc.out[0], 0, 'a tied maximum counts at its first index');
  }
});

const report = (name: string, workgroupBytes = 32768): AdapterReport => ({
  name, vendor: 'v', architecture: 'a', backend: 'vulkan', features: [],
  limits: {
    maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: workgroupBytes,
  },
});

test('plan choice: CPU adapters get the lavapipe plans, GPUs the gpu plans with subgroups where offered; CGH_PLANS forces them', () => {
  assert.equal(choosePlans(report('llvmpipe (LLVM 15.0.6, 256 bits)'), ['subgroups']).matmul, 'lavapipe');
  assert.equal(choosePlans(report('SwiftShader Device (Subzero)'), []).conv, 'lavapipe');
  const h200 = choosePlans(report('NVIDIA H200', 49152), ['subgroups']);
  assert.equal([h200.matmul, h200.conv, h200.subgroups], ['gpu', 'gpu', true]);
  assert.equal(choosePlans(report('NVIDIA H200'), []).subgroups, false);
  const mixed = choosePlans(report('llvmpipe'), [], 'matmul=gpu');
  assert.equal([mixed.matmul, mixed.conv], ['gpu', 'lavapipe']);
  assert.equal(choosePlans(report('NVIDIA H200'), ['subgroups'], 'lavapipe,nosubgroups').matmul, 'lavapipe');
});

test('plan choice: a forced plan the adapter cannot run is a one-line error naming what is missing', () => {
  assertThrowsLine(() => choosePlans(report('llvmpipe'), ['shader-f16'], 'gpu,subgroups'), /feature 'subgroups'/);
  assertThrowsLine(() => choosePlans(report('Old GPU', 8192), [], 'gpu'), /16384 bytes of workgroup memory.*offers 8192/);
  assertThrowsLine(() => choosePlans(report('llvmpipe'), [], 'fast'), /unknown plan family 'fast'/);
  assertThrowsLine(() => choosePlans(report('llvmpipe'), [], 'pool=gpu'), /unknown op 'pool'/);
  assert.throws(() => choosePlans(report('llvmpipe'), [], 'subgroups'), (e: unknown) => e instanceof PlanError);
});

test.run();

// Fused epilogues (engine/fusion.ts): matmul + bias + ReLU, convolution + ReLU, batch norm + ReLU, add + ReLU and ReLU gradients, forced
// on the gpu plans and on the lavapipe plans, against float64 plain loops written here (odd sizes, both sides of tile
// edges, split-K) and gradients by finite differences. Each case also checks which passes were fused, so that a
// fusion that silently stopped happening fails here, and that a value something else reads is never folded away.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph, Node, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { sum } from '../engine/ops/reduce.js';
import { matmul } from '../engine/ops/matmul.js';
import { addBias } from '../engine/ops/bias.js';
import { add, mul, relu, reluBackward } from '../engine/ops/elementwise.js';
import { conv2d } from '../engine/ops/conv2d.js';
import { concat } from '../engine/ops/concat.js';
import { batchNorm2d } from '../engine/ops/batchnorm.js';
import { GEMM_TILES } from '../engine/ops/gemm_tiles.js';
import { choosePlans } from '../engine/plans.js';
import type { AdapterReport } from '../engine/device.js';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64, assertThrowsLine } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

const FAMILIES = ['gpu', 'lavapipe'] as const;
const SMALL_TILE = GEMM_TILES[GEMM_TILES.length - 1];

const relu64 = (y: Float64Array): Float64Array => y.map((v) => (v > 0 ? v : 0));

/** The fused passes of a program, as `producer+bias+relu`. */
function fused(p: Program): string[] {
  const name = (f: { bias: unknown; relu: boolean; mask: unknown }) => `${f.bias ? '+bias' : ''}${f.relu ? '+relu' : ''}${f.mask ? '+mask' : ''}`;
  return [...p.fusion.passes].map(([n, f]) => `${n.op!.type}${name(f.epilogue)}`).sort();
}

/** y [B, O] = x [B, I] · Wᵀ (W [O, I]) + b [O], in float64. */
function linear64(x: Float64Array, W: Float64Array, b: Float64Array, B: number, I: number, O: number): Float64Array {
  const y = new Float64Array(B * O);
  for (let r = 0; r < B; r++)
    for (let o = 0; o < O; o++) {
      let s = b[o];
      for (let i = 0; i < I; i++) s += x[r * I + i] * W[o * I + i];
      y[r * O + o] = s;
    }
  return y;
}

/** Checks the forward against `ref` and every input's gradient against finite differences of `ref`. */
function checkAll(name: string, out: Float32Array, grads: Float32Array[], weights: Float32Array, ref: (xs: Float64Array[]) => Float64Array,
  xs: Float64Array[], tol: { fwd: number; grad: number }) {
  assertClose(`${name} forward`, out, ref(xs), tol.fwd, 1e-4);
  grads.forEach((g, i) => assertGradClose(`${name} gradient of input ${i}`, g, finiteDiff(ref, xs, i, weights), tol.grad, 1e-3));
}

test('Linear layers: matmul + bias (+ ReLU) fused on the gpu plans (tile edges, split-K), bias + ReLU on the lavapipe plans', async () => {
  const rng = new Rng(71);
  // [rows, in, out]: one past / one short of the 32x32 tile's edges, K across a 16-slice edge; a long K for split-K.
  const cases: { B: number; I: number; O: number; force: { tile?: typeof SMALL_TILE; splits?: number } }[] = [
    { B: 33, I: 17, O: 31, force: { tile: SMALL_TILE } },
    { B: 5, I: 37, O: 33, force: { tile: SMALL_TILE } },
    { B: 7, I: 101, O: 10, force: { tile: SMALL_TILE, splits: 3 } },
    { B: 9, I: 19, O: 65, force: {} },
  ];
  for (const family of FAMILIES) {
    for (const { B, I, O, force } of cases) {
      for (const withRelu of [true, false]) {
        await withPlans(family, async () => {
          const X = randn(rng, B * I), W = randn(rng, O * I), b = randn(rng, O);
          const { out, grads, weights, program } = await runGraph(
            [{ shape: [B, I], data: X }, { shape: [O, I], data: W }, { shape: [O], data: b }],
            (_g, [x, w, bias]) => {
              const y = addBias(matmul(x, w, { transB: true }), bias);
              return withRelu ? relu(y) : y;
            },
          );
          const want = family === 'gpu' ? [`matmul+bias${withRelu ? '+relu' : ''}`] : withRelu ? ['add_bias+relu'] : [];
          assert.equal(fused(program), want, `${family} ${B}x${I}->${O} relu=${withRelu}: fused passes`);
          const ref = (xs: Float64Array[]) => {
            const y = linear64(xs[0], xs[1], xs[2], B, I, O);
            return withRelu ? relu64(y) : y;
          };
          checkAll(`${family} ${B}x${I}->${O} relu=${withRelu}`, out, grads, weights, ref, [f64(X), f64(W), f64(b)],
            { fwd: 1e-4 * Math.sqrt(I), grad: 1e-4 * Math.sqrt(Math.max(B, O)) });
        }, family === 'gpu' ? force : {});
      }
    }
  }
});

test('a product followed by a ReLU without a bias: fused on the gpu plans in every transpose case', async () => {
  const rng = new Rng(72);
  const [M, N, K] = [33, 31, 18];
  for (const family of FAMILIES) {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
      await withPlans(family, async () => {
        const A = randn(rng, M * K), Bm = randn(rng, K * N);
        const { out, grads, weights, program } = await runGraph(
          [{ shape: tA ? [K, M] : [M, K], data: A }, { shape: tB ? [N, K] : [K, N], data: Bm }],
          (_g, [a, b]) => relu(matmul(a, b, { transA: tA, transB: tB })),
        );
        assert.equal(fused(program), family === 'gpu' ? ['matmul+relu'] : [], 'fused passes');
        const ref = (xs: Float64Array[]) => {
          const C = new Float64Array(M * N);
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let k = 0; k < K; k++) s += (tA ? xs[0][k * M + i] : xs[0][i * K + k]) * (tB ? xs[1][j * K + k] : xs[1][k * N + j]);
              C[i * N + j] = s;
            }
          return relu64(C);
        };
        checkAll(`${family} tA=${tA} tB=${tB}`, out, grads, weights, ref, [f64(A), f64(Bm)], { fwd: 1e-3, grad: 1e-3 });
      }, { tile: SMALL_TILE });
    }
  }
});

interface ConvCase { N: number; C: number; H: number; W: number; O: number; k: number; stride: number; pad: number; bias: boolean }

/** Direct convolution in float64, NCHW input, OIHW weights, one group, no dilation. */
function conv64(x: Float64Array, w: Float64Array, b: Float64Array | null, s: ConvCase): Float64Array {
  const Ho = Math.floor((s.H + 2 * s.pad - s.k) / s.stride) + 1, Wo = Math.floor((s.W + 2 * s.pad - s.k) / s.stride) + 1;
  const y = new Float64Array(s.N * s.O * Ho * Wo);
  for (let n = 0; n < s.N; n++)
    for (let o = 0; o < s.O; o++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let acc = b ? b[o] : 0;
          for (let c = 0; c < s.C; c++)
            for (let ky = 0; ky < s.k; ky++)
              for (let kx = 0; kx < s.k; kx++) {
                const iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                if (iy < 0 || ix < 0 || iy >= s.H || ix >= s.W) continue;
                acc += x[((n * s.C + c) * s.H + iy) * s.W + ix] * w[((o * s.C + c) * s.k + ky) * s.k + kx];
              }
          y[((n * s.O + o) * Ho + oy) * Wo + ox] = acc;
        }
  return y;
}

test('convolution + ReLU: fused into the implicit-GEMM store on the gpu plans, with and without a bias', async () => {
  const rng = new Rng(73);
  const cases: ConvCase[] = [
    { N: 3, C: 5, H: 9, W: 7, O: 6, k: 3, stride: 1, pad: 1, bias: true },
    { N: 2, C: 3, H: 8, W: 11, O: 33, k: 3, stride: 2, pad: 0, bias: false },
    { N: 2, C: 7, H: 5, W: 5, O: 31, k: 1, stride: 1, pad: 0, bias: true },
  ];
  for (const family of FAMILIES) {
    for (const s of cases) {
      await withPlans(family, async () => {
        const X = randn(rng, s.N * s.C * s.H * s.W), Wt = randn(rng, s.O * s.C * s.k * s.k), b = randn(rng, s.O);
        const inputs = [{ shape: [s.N, s.C, s.H, s.W], data: X }, { shape: [s.O, s.C, s.k, s.k], data: Wt }];
        if (s.bias) inputs.push({ shape: [s.O], data: b });
        const build = (_g: unknown, [x, w, bias]: Node[]) => relu(conv2d(x, w, bias ?? null, { stride: s.stride, padding: s.pad }));
        const { out, grads, weights, program } = await runGraph(inputs, build);
        assert.equal(fused(program), family === 'gpu' ? ['conv2d+relu'] : [], 'fused passes');
        const ref = (xs: Float64Array[]) => relu64(conv64(xs[0], xs[1], s.bias ? xs[2] : null, s));
        const xs = s.bias ? [f64(X), f64(Wt), f64(b)] : [f64(X), f64(Wt)];
        checkAll(`${family} ${JSON.stringify(s)}`, out, grads, weights, ref, xs, { fwd: 1e-4 * Math.sqrt(s.C * s.k * s.k), grad: 2e-3 });
      }, family === 'gpu' ? { tile: SMALL_TILE } : {});
    }
  }
});

/** Batch norm over [N, C, HW] in float64: the batch's mean and biased variance, or the given running statistics. */
function bn64(x: Float64Array, gamma: Float64Array, beta: Float64Array, N: number, C: number, HW: number, eps: number,
  running?: { mean: Float32Array; var: Float32Array }): Float64Array {
  const y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    let mean = 0, variance = 0;
    if (running) { mean = running.mean[c]; variance = running.var[c]; } else {
      for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) mean += x[(n * C + c) * HW + i];
      mean /= N * HW;
      for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) variance += (x[(n * C + c) * HW + i] - mean) ** 2;
      variance /= N * HW;
    }
    for (let n = 0; n < N; n++)
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        y[j] = ((x[j] - mean) / Math.sqrt(variance + eps)) * gamma[c] + beta[c];
      }
  }
  return y;
}

test('batch norm + ReLU: the ReLU in the normalising pass, in training and eval mode, on both plan families', async () => {
  const rng = new Rng(74);
  const eps = 1e-5;
  for (const family of FAMILIES) {
    for (const shape of [[3, 5, 4, 3], [7, 9], [1, 3, 5, 7]]) {
      for (const mode of ['train', 'eval'] as const) {
        const [N, C] = shape;
        const HW = shape.slice(2).reduce((a, b) => a * b, 1);
        const X = Float32Array.from(randn(rng, N * C * HW), (v, i) => v + 0.3 * (Math.floor(i / HW) % C));
        const G = randn(rng, C), Bt = randn(rng, C);
        const runMean = randn(rng, C), runVar = Float32Array.from(randn(rng, C), (v) => 0.5 + v * v);
        await withPlans(family, async () => {
          const { out, grads, weights, program } = await runGraph(
            [{ shape, data: X }, { shape: [C], data: G }, { shape: [C], data: Bt }],
            (g, [x, gamma, beta]) => {
              g.mode = mode;
              const running = {
                mean: new Parameter('bn.running_mean', [C], runMean.slice()), var: new Parameter('bn.running_var', [C], runVar.slice()),
                batchesTracked: null, momentum: 0.1,
              };
              return relu(batchNorm2d(x, gamma, beta, { eps, running }));
            },
          );
          assert.equal(fused(program), ['batchnorm+relu'], 'fused passes');
          const ref = (xs: Float64Array[]) => relu64(bn64(xs[0], xs[1], xs[2], N, C, HW, eps, mode === 'eval' ? { mean: runMean, var: runVar } : undefined));
          checkAll(`${family} ${mode} [${shape}]`, out, grads, weights, ref, [f64(X), f64(G), f64(Bt)], { fwd: 1e-4, grad: 1e-3 });
        });
      }
    }
  }
});

test('add + ReLU (a residual connection): one pass on both plan families, gradients to both inputs', async () => {
  const rng = new Rng(75);
  for (const family of FAMILIES) {
    await withPlans(family, async () => {
      const shape = [3, 5, 7];
      const n = 3 * 5 * 7;
      const A = randn(rng, n), B = randn(rng, n);
      const { out, grads, weights, program } = await runGraph([{ shape, data: A }, { shape, data: B }], (_g, [a, b]) => relu(add(a, b)));
      assert.equal(fused(program), ['add+relu'], 'fused passes');
      const ref = (xs: Float64Array[]) => relu64(xs[0].map((v, i) => v + xs[1][i]));
      checkAll(`${family} add`, out, grads, weights, ref, [f64(A), f64(B)], { fwd: 1e-6, grad: 1e-4 });
    });
  }
});

test("a ReLU's gradient folded into the pass producing it: a convolution's input gradient and a product (gpu plans), a concat slice (both)", async () => {
  const rng = new Rng(77);
  const s: ConvCase = { N: 2, C: 33, H: 7, W: 5, O: 4, k: 3, stride: 2, pad: 1, bias: true };
  const [B, I, O] = [33, 31, 9];
  for (const family of FAMILIES) {
    await withPlans(family, async () => {
      // relu -> convolution: dX of the convolution (33 channels, across the 32-row tile's edge) is masked as it is stored.
      const X = randn(rng, s.N * s.C * s.H * s.W), Wt = randn(rng, s.O * s.C * s.k * s.k), b = randn(rng, s.O);
      const conv = await runGraph([{ shape: [s.N, s.C, s.H, s.W], data: X }, { shape: [s.O, s.C, s.k, s.k], data: Wt }, { shape: [s.O], data: b }],
        (_g, [x, w, bias]) => conv2d(relu(x), w, bias, { stride: s.stride, padding: s.pad }));
      assert.equal(fused(conv.program), family === 'gpu' ? ['conv2d_input_grad+mask'] : [], `${family} conv: fused passes`);
      checkAll(`${family} relu -> conv`, conv.out, conv.grads, conv.weights, (xs) => conv64(relu64(xs[0]), xs[1], xs[2], s), [f64(X), f64(Wt), f64(b)],
        { fwd: 1e-3, grad: 2e-3 });
      // relu -> Linear: dX = dY·W, masked in the product's store (the bias and its gradient are not involved).
      const H = randn(rng, B * I), Wl = randn(rng, O * I), bl = randn(rng, O);
      const lin = await runGraph([{ shape: [B, I], data: H }, { shape: [O, I], data: Wl }, { shape: [O], data: bl }],
        (_g, [x, w, bias]) => addBias(matmul(relu(x), w, { transB: true }), bias));
      assert.equal(fused(lin.program), family === 'gpu' ? ['matmul+bias', 'matmul+mask'] : [], `${family} linear: fused passes`);
      checkAll(`${family} relu -> linear`, lin.out, lin.grads, lin.weights, (xs) => linear64(relu64(xs[0]), xs[1], xs[2], B, I, O),
        [f64(H), f64(Wl), f64(bl)], { fwd: 1e-3, grad: 1e-3 });
      // relu -> concat: the gradient slice of the ReLU's piece is masked as it is copied. The square after the concat makes
      // the gradient depend on the forward pass, as a loss does, so that the ReLU runs before the slice.
      const A = randn(rng, 3 * 5 * 7), C = randn(rng, 3 * 2 * 7);
      const cat = await runGraph([{ shape: [3, 5, 7], data: A }, { shape: [3, 2, 7], data: C }], (_g, [a, c]) => {
        const joined = concat([relu(a), c], 1);
        return mul(joined, joined);
      });
      assert.equal(fused(cat.program), ['slice+mask'], `${family} concat: fused passes`);
      const catRef = (xs: Float64Array[]) => {
        const y = new Float64Array(3 * 7 * 7);
        for (let n = 0; n < 3; n++) for (let j = 0; j < 7 * 7; j++) y[n * 49 + j] = j < 35 ? Math.max(xs[0][n * 35 + j], 0) : xs[1][n * 14 + j - 35];
        return y.map((v) => v * v);
      };
      checkAll(`${family} relu -> concat`, cat.out, cat.grads, cat.weights, catRef, [f64(A), f64(C)], { fwd: 1e-5, grad: 1e-4 });
    }, family === 'gpu' ? { tile: SMALL_TILE } : {});
  }
});

/** How many of a program's dispatches are labelled as `kind` (an elementwise op's label is `type[+epilogue] size`). */
const dispatchesOf = (p: Program, kind: string): number => p.dispatches.filter((d) => d.label.split(' ')[0] === kind).length;

test("a ReLU's gradient fed by a sum of gradients (a residual block's output ReLU): masked in the sum's last add, both plan families", async () => {
  const rng = new Rng(78);
  const shape = [3, 5, 7];
  const n = 3 * 5 * 7;
  for (const family of FAMILIES) {
    // r = relu(a) is read by `uses` ops, so its gradient is a sum of `uses` gradients: autograd chains uses - 1 adds,
    // and only the last one, whose sole user is the ReLU's gradient, may take the mask.
    for (const uses of [2, 3, 4]) {
      await withPlans(family, async () => {
        const A = randn(rng, n), B = randn(rng, n), C = randn(rng, n);
        const { out, grads, weights, program } = await runGraph([{ shape, data: A }, { shape, data: B }, { shape, data: C }], (_g, [a, b, c]) => {
          const r = relu(a);
          const branches = [mul(r, b), r, mul(r, c), mul(r, r)].slice(0, uses);
          return branches.reduce((s, y) => add(s, y));
        });
        assert.equal(fused(program), ['add+mask'], `${family} ${uses} uses: fused passes`);
        assert.equal(dispatchesOf(program, 'relu_backward'), 0, `${family} ${uses} uses: no separate ReLU gradient pass`);
        assert.equal(dispatchesOf(program, 'add+mask'), 1, `${family} ${uses} uses: one masked add`);
        const ref = (xs: Float64Array[]) => xs[0].map((v, i) => {
          const r = Math.max(v, 0);
          return [r * xs[1][i], r, r * xs[2][i], r * r].slice(0, uses).reduce((s, y) => s + y, 0);
        });
        checkAll(`${family} ${uses} uses`, out, grads, weights, ref, [f64(A), f64(B), f64(C)], { fwd: 1e-5, grad: 1e-4 });
      });
    }
  }
});

test('a sum another op reads, or that is an output, keeps its value; a mask computed after the sum is not folded into it', async () => {
  const rng = new Rng(79);
  const shape = [5, 9];
  const n = 5 * 9;
  const [P, Q, M] = [randn(rng, n), randn(rng, n), randn(rng, n)];
  const inputs = [{ shape, data: P }, { shape, data: Q }, { shape, data: M }];
  const masked = (s: number, m: number) => (m > 0 ? s : 0);
  for (const family of FAMILIES) {
    await withPlans(family, async () => {
      // The sum's sole user is the mask: one pass, against float64.
      const alone = await runGraph(inputs, (_g, [p, q, m]) => reluBackward(add(p, q), m), { grads: false });
      assert.equal(fused(alone.program), ['add+mask'], `${family} sole user`);
      assertClose(`${family} masked sum`, alone.out, f64(P).map((v, i) => masked(v + Q[i], M[i])), 1e-6, 1e-6);
      // The sum is also added to the masked sum: it is stored, and the mask runs alone.
      const read = await runGraph(inputs, (_g, [p, q, m]) => {
        const s = add(p, q);
        return add(reluBackward(s, m), s);
      }, { grads: false });
      assert.equal(fused(read.program), [], `${family} sum read twice`);
      assertClose(`${family} masked sum + sum`, read.out, f64(P).map((v, i) => masked(v + Q[i], M[i]) + v + Q[i]), 1e-6, 1e-6);
      // The mask is a ReLU that runs after the sum in the program's order: it cannot be read by the sum's pass.
      const late = await runGraph(inputs, (_g, [p, q, m]) => reluBackward(add(p, q), relu(m)), { grads: false });
      assert.equal(fused(late.program), [], `${family} late mask`);
      assertClose(`${family} late mask`, late.out, f64(P).map((v, i) => masked(v + Q[i], M[i])), 1e-6, 1e-6);
    });
  }
  // The gradient sum as an output of the program beside the masked gradient: both values stay readable.
  await withPlans('lavapipe', async () => {
    const g = new Graph();
    const [a, b] = [g.input('a', shape), g.input('b', shape)];
    const r = relu(a);
    const loss = sum(mul(add(mul(r, b), r), b));
    const grads = gradients(loss, [a, r]);
    const program = new Program(await getGpu(), g, [grads.get(a)!, grads.get(r)!]);
    assert.equal(fused(program), [], 'a kept sum is not folded');
    program.write(a, P);
    program.write(b, Q);
    program.run();
    const dr = f64(Q).map((v) => v * v + v);
    assertClose('d loss / d r', await program.read(grads.get(r)!), dr, 1e-6, 1e-6);
    assertClose('d loss / d a', await program.read(grads.get(a)!), dr.map((v, i) => (P[i] > 0 ? v : 0)), 1e-6, 1e-6);
  });
});

test('a value another op reads, or a program output, is not folded; a folded value cannot be read; nofuse fuses nothing', async () => {
  const rng = new Rng(76);
  const [B, I, O] = [6, 9, 7];
  const X = randn(rng, B * I), W = randn(rng, O * I), b = randn(rng, O);
  const inputs = [{ shape: [B, I], data: X }, { shape: [O, I], data: W }, { shape: [O], data: b }];
  await withPlans('gpu', async () => {
    // The pre-activation is also added to the ReLU's output: it has two users, so it is stored and the ReLU runs alone.
    const twice = await runGraph(inputs, (_g, [x, w, bias]) => {
      const pre = addBias(matmul(x, w, { transB: true }), bias);
      return add(relu(pre), pre);
    }, { grads: false });
    assert.equal(fused(twice.program), ['matmul+bias'], 'only the bias folds');
    const ref = linear64(f64(X), f64(W), f64(b), B, I, O);
    assertClose('relu(pre) + pre', twice.out, ref.map((v) => Math.max(v, 0) + v), 1e-4, 1e-4);
    // The product's own value is folded away: reading it is a one-line error, not stale data.
    const product = twice.program.order.find((n) => n.op?.type === 'matmul')!;
    assertThrowsLine(() => twice.program.buf(product), /exists only inside a fused pass/);
  });
  await withPlans('gpu,nofuse', async () => {
    const plain = await runGraph(inputs, (_g, [x, w, bias]) => relu(addBias(matmul(x, w, { transB: true }), bias)));
    assert.equal(fused(plain.program), [], 'nofuse');
    assertClose('nofuse forward', plain.out, relu64(linear64(f64(X), f64(W), f64(b), B, I, O)), 1e-4, 1e-4);
  });
});

test('CGH_PLANS fuse / nofuse: fusion is on by default on every adapter and can be turned off', () => {
  const report = (name: string) => ({ name, vendor: '', architecture: '', limits: { maxComputeWorkgroupStorageSize: 32768 } }) as unknown as AdapterReport;
  assert.ok(choosePlans(report('llvmpipe (LLVM 15.0.6, 256 bits)'), []).fusion, 'lavapipe default');
  assert.ok(choosePlans(report('NVIDIA H200'), []).fusion, 'gpu default');
  assert.not.ok(choosePlans(report('NVIDIA H200'), [], 'nofuse').fusion, 'nofuse');
  assert.ok(choosePlans(report('NVIDIA H200'), [], 'gpu,nofuse,fuse').fusion, 'last word wins');
});

test.before(async () => { await getGpu(); });
test.run();

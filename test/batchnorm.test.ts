import { test } from 'uvu';
import { Graph, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { getGpu } from '../engine/context.js';
import { batchNorm2d, RunningStats } from '../engine/ops/batchnorm.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

/**
 * Registers `fn` once per plan family: the gpu plans reduce channels of up to ONE_PASS_MAX values in one workgroup pass,
 * the lavapipe plans (and larger channels) in two.
 */
function planTest(name: string, fn: () => Promise<void>) {
  for (const plans of ['lavapipe', 'gpu']) test(`${plans} plans: ${name}`, () => withPlans(plans, fn));
}

/** Float64 batch norm over [N, C, HW] with K groups of N/K examples; stats given (eval) or from the batch. */
function refBatchNorm(x: Float64Array, gamma: ArrayLike<number>, beta: ArrayLike<number>, N: number, C: number, HW: number, K: number, eps: number, running?: { mean: ArrayLike<number>; var: ArrayLike<number> }): Float64Array {
  const y = new Float64Array(x.length);
  const ng = N / K;
  for (let k = 0; k < K; k++)
    for (let c = 0; c < C; c++) {
      const { mean, variance } = running ? { mean: running.mean[c], variance: running.var[c] } : groupStats(x, C, HW, k * ng, ng, c);
      const r = 1 / Math.sqrt(variance + eps);
      for (let n = k * ng; n < (k + 1) * ng; n++)
        for (let i = 0; i < HW; i++) {
          const idx = (n * C + c) * HW + i;
          y[idx] = (x[idx] - mean) * r * gamma[c] + beta[c];
        }
    }
  return y;
}

/** Mean and biased variance of channel c over examples first .. first + count. */
function groupStats(x: ArrayLike<number>, C: number, HW: number, first: number, count: number, c: number) {
  let s = 0;
  for (let n = first; n < first + count; n++) for (let i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
  const mean = s / (count * HW);
  let v = 0;
  for (let n = first; n < first + count; n++) for (let i = 0; i < HW; i++) v += (x[(n * C + c) * HW + i] - mean) ** 2;
  return { mean, variance: v / (count * HW) };
}

function runningStats(C: number, rng: Rng, momentum = 0.1): RunningStats {
  return {
    mean: new Parameter('bn.running_mean', [C], randn(rng, C)),
    var: new Parameter('bn.running_var', [C], Float32Array.from(randn(rng, C), (v) => 0.5 + v * v)),
    batchesTracked: new Parameter('bn.num_batches_tracked', [], new Float32Array(1)),
    momentum,
  };
}

// Shapes [N, C, H, W] with odd sizes; one with N = 1 (statistics over H, W only), one with H = W = 1
// (statistics over the batch only), and maps large enough for many lanes in the first reduction level. The last two
// sit at either side of ONE_PASS_MAX = 32768 values per channel (one pass and two on the gpu plans), one of them with
// fewer values per channel than the one-pass workgroup's 256 invocations.
const shapes = [[3, 5, 7, 9], [1, 4, 17, 13], [33, 2, 1, 1], [5, 3, 37, 41], [2, 3, 64, 65], [3, 2, 5, 7], [2, 1, 128, 128], [3, 2, 73, 151]];

planTest('batch norm, training mode: forward and gradients of x, gamma and beta', async () => {
  const rng = new Rng(21);
  for (const [N, C, H, W] of shapes) {
    const HW = H * W;
    // A channel offset of 3 and scale 2 makes the statistics non-trivial.
    const X = Float32Array.from(randn(rng, N * C * HW), (v, i) => 2 * v + 3 * (Math.floor(i / HW) % C));
    const G = randn(rng, C), B = randn(rng, C);
    const { out, grads, weights } = await runGraph(
      [{ shape: [N, C, H, W], data: X }, { shape: [C], data: G }, { shape: [C], data: B }],
      (_g, [x, gm, bt]) => batchNorm2d(x, gm, bt, { eps: 1e-5 }),
    );
    const f = (xs: Float64Array[]) => refBatchNorm(xs[0], xs[1], xs[2], N, C, HW, 1, 1e-5);
    const xs = [f64(X), f64(G), f64(B)];
    // Outputs are O(1): float32 statistics and normalisation give errors of a few 1e-6.
    assertClose(`bn forward [${N},${C},${H},${W}]`, out, f(xs), 2e-5, 1e-4);
    // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)): the two means cancel much of dy, so the
    // absolute error is that of the float32 sums (~1e-6 relative to sqrt(M) terms); 1e-4 absolute covers it.
    assertGradClose(`bn dx [${N},${C},${H},${W}]`, grads[0], finiteDiff(f, xs, 0, weights, 48), 1e-4, 1e-3);
    // dgamma and dbeta are sums over N*H*W products of O(1) terms: tolerance grows with sqrt of the count.
    const m = Math.sqrt(N * HW);
    assertGradClose(`bn dgamma [${N},${C},${H},${W}]`, grads[1], finiteDiff(f, xs, 1, weights), 1e-5 * m, 1e-4);
    assertGradClose(`bn dbeta [${N},${C},${H},${W}]`, grads[2], finiteDiff(f, xs, 2, weights), 1e-5 * m, 1e-4);
  }
});

planTest('batch norm, training mode: a large mean does not cost precision (shifted single-pass variance)', async () => {
  const rng = new Rng(22);
  const [N, C, H, W] = [4, 2, 31, 33];
  const X = Float32Array.from(randn(rng, N * C * H * W), (v) => 1000 + 0.01 * v);
  const G = new Float32Array(C).fill(1), B = new Float32Array(C);
  const { out } = await runGraph([{ shape: [N, C, H, W], data: X }, { shape: [C], data: G }, { shape: [C], data: B }], (_g, [x, gm, bt]) => batchNorm2d(x, gm, bt), { grads: false });
  const want = refBatchNorm(f64(X), G, B, N, C, H * W, 1, 1e-5);
  // The mean itself is a float32 near 1000 (spacing 6.1e-5), so x - mean is off by up to half a spacing,
  // 0.003 in units of the std 0.01; 4e-3 absolute allows that and nothing more. A sum-of-squares variance
  // (E[x^2] - E[x]^2 with x^2 ~ 1e6, spacing 0.06) would miss the variance 1e-4 entirely.
  assertClose('bn forward, mean 1000 std 0.01', out, want, 4e-3, 0);
});

planTest('batch norm, eval mode: running statistics, gradients, no update', async () => {
  const rng = new Rng(23);
  const gpu = await getGpu();
  for (const [N, C, H, W] of [[3, 5, 7, 9], [2, 3, 1, 1], [1, 7, 4, 4]]) {
    const HW = H * W;
    const running = runningStats(C, rng);
    const X = randn(rng, N * C * HW), G = randn(rng, C), B = randn(rng, C);
    const { out, grads, weights } = await runGraph(
      [{ shape: [N, C, H, W], data: X }, { shape: [C], data: G }, { shape: [C], data: B }],
      (g, [x, gm, bt]) => { g.mode = 'eval'; return batchNorm2d(x, gm, bt, { running }); },
    );
    const rs = { mean: running.mean.init, var: running.var.init };
    const f = (xs: Float64Array[]) => refBatchNorm(xs[0], xs[1], xs[2], N, C, HW, 1, 1e-5, rs);
    const xs = [f64(X), f64(G), f64(B)];
    assertClose('bn eval forward', out, f(xs), 1e-5, 1e-5);
    assertGradClose('bn eval dx', grads[0], finiteDiff(f, xs, 0, weights, 48), 1e-5, 1e-4);
    assertGradClose('bn eval dgamma', grads[1], finiteDiff(f, xs, 1, weights), 1e-5 * Math.sqrt(N * HW), 1e-4);
    assertGradClose('bn eval dbeta', grads[2], finiteDiff(f, xs, 2, weights), 1e-5 * Math.sqrt(N * HW), 1e-4);
    assertSame('eval leaves running_mean', await gpu.read(running.mean.buffer!, C), running.mean.init);
    assertSame('eval leaves running_var', await gpu.read(running.var.buffer!, C), running.var.init);
    assertSame('eval leaves num_batches_tracked', await gpu.read(running.batchesTracked!.ensure(gpu), 1), [0]);
  }
});

/**
 * Builds a training graph whose gamma and beta are parameters, runs it `steps` times on fresh inputs,
 * and returns the last output and gradients along with the running buffers after every run.
 */
async function trainSteps(N: number, C: number, H: number, W: number, K: number, steps: number, rng: Rng, momentum = 0.1) {
  const gpu = await getGpu();
  const g = new Graph();
  g.gradGroups = K;
  const running = runningStats(C, rng, momentum);
  const gamma = new Parameter('bn.weight', [C], randn(rng, C));
  const beta = new Parameter('bn.bias', [C], randn(rng, C));
  const x = g.input('x', [N, C, H, W]);
  const gn = g.param(gamma), bn = g.param(beta);
  const y = batchNorm2d(x, gn, bn, { running, name: 'bn' });
  const w = g.input('w', y.shape);
  const grads = gradients(sum(mul(y, w)), [x, gn, bn]);
  const prog = new Program(gpu, g, [y, ...grads.values()]);
  const W8 = randn(rng, y.size);
  prog.write(w, W8);
  const inputs: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const X = Float32Array.from(randn(rng, y.size), (v) => 1.5 * v + s);
    inputs.push(X);
    prog.write(x, X);
    prog.run();
  }
  const read = async (n: any) => (await prog.read(n)) as Float32Array;
  return {
    running, gamma, beta, inputs, weights: W8,
    out: await read(y), dx: await read(grads.get(x)), dgamma: await read(grads.get(gn)), dbeta: await read(grads.get(bn)),
    runningMean: (await gpu.read(running.mean.buffer!, C)) as Float32Array,
    runningVar: (await gpu.read(running.var.buffer!, C)) as Float32Array,
    tracked: (await gpu.read(running.batchesTracked!.buffer!, 1))[0],
  };
}

/** PyTorch's running update for K consecutive micro-batches per step, in float64. */
function refRunning(init: RunningStats, inputs: Float32Array[], N: number, C: number, HW: number, K: number, momentum: number) {
  const mean = f64(init.mean.init), variance = f64(init.var.init);
  const ng = N / K;
  for (const X of inputs)
    for (let k = 0; k < K; k++)
      for (let c = 0; c < C; c++) {
        const s = groupStats(X, C, HW, k * ng, ng, c);
        const m = ng * HW;
        mean[c] = (1 - momentum) * mean[c] + momentum * s.mean;
        variance[c] = (1 - momentum) * variance[c] + momentum * s.variance * m / (m - 1);
      }
  return { mean, variance };
}

planTest('batch norm running statistics after several training steps match PyTorch\'s update', async () => {
  const rng = new Rng(24);
  for (const [N, C, H, W, momentum] of [[4, 3, 5, 7, 0.1], [7, 2, 1, 1, 0.1], [3, 5, 9, 11, 0.3]]) {
    const r = await trainSteps(N, C, H, W, 1, 4, rng, momentum);
    const want = refRunning(r.running, r.inputs, N, C, H * W, 1, momentum);
    // Four momentum updates of float32 statistics: 1e-5 relative.
    assertClose('running_mean', r.runningMean, want.mean, 1e-5, 1e-5);
    assertClose('running_var', r.runningVar, want.variance, 1e-5, 1e-5);
    if (r.tracked !== 4) throw new Error(`num_batches_tracked is ${r.tracked} after 4 steps`);
  }
});

planTest('batch norm with gradient groups: per-group statistics, per-group gamma/beta gradients, sequential running update', async () => {
  const rng = new Rng(25);
  for (const [N, C, H, W, K] of [[6, 3, 5, 7, 3], [4, 2, 9, 1, 2], [9, 4, 3, 3, 3]]) {
    const HW = H * W;
    const r = await trainSteps(N, C, H, W, K, 2, rng);
    const G = f64(r.gamma.init), B = f64(r.beta.init);
    const X = f64(r.inputs[r.inputs.length - 1]);
    const f = (xs: Float64Array[]) => refBatchNorm(xs[0], xs[1], xs[2], N, C, HW, K, 1e-5);
    const xs = [X, G, B];
    assertClose('grouped forward', r.out, f(xs), 2e-5, 1e-4);
    assertGradClose('grouped dx', r.dx, finiteDiff(f, xs, 0, r.weights, 48), 1e-4, 1e-3);
    // Gradient of gamma/beta for group k: the derivative of the output of group k's examples only.
    const ng = N / K;
    for (let k = 0; k < K; k++) {
      const wk = Float64Array.from(r.weights, (v, i) => (Math.floor(i / (C * HW)) >= k * ng && Math.floor(i / (C * HW)) < (k + 1) * ng ? v : 0));
      const tol = 1e-5 * Math.sqrt(ng * HW);
      assertGradClose(`dgamma group ${k}`, r.dgamma.subarray(k * C, (k + 1) * C), finiteDiff(f, xs, 1, wk), tol, 1e-4);
      assertGradClose(`dbeta group ${k}`, r.dbeta.subarray(k * C, (k + 1) * C), finiteDiff(f, xs, 2, wk), tol, 1e-4);
    }
    const want = refRunning(r.running, r.inputs, N, C, HW, K, 0.1);
    assertClose('grouped running_mean', r.runningMean, want.mean, 1e-5, 1e-5);
    assertClose('grouped running_var', r.runningVar, want.variance, 1e-5, 1e-5);
    if (r.tracked !== 2 * K) throw new Error(`num_batches_tracked is ${r.tracked} after 2 steps of ${K} groups`);
  }
});

planTest('batch norm reductions are deterministic', async () => {
  const rng = new Rng(26);
  const [N, C, H, W] = [8, 3, 33, 35];
  const X = randn(rng, N * C * H * W), G = randn(rng, C), B = randn(rng, C);
  const run = () => runGraph([{ shape: [N, C, H, W], data: X }, { shape: [C], data: G }, { shape: [C], data: B }], (_g, [x, gm, bt]) => batchNorm2d(x, gm, bt));
  const a = await run(), b = await run();
  assertSame('same output', a.out, b.out);
  for (let i = 0; i < 3; i++) assertSame(`same gradient ${i}`, a.grads[i], b.grads[i]);
});

/** Bitwise-equal float arrays. */
function assertSame(name: string, got: ArrayLike<number>, want: ArrayLike<number>) {
  if (got.length !== want.length) throw new Error(`${name}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) throw new Error(`${name}: element ${i} is ${got[i]}, expected exactly ${want[i]}`);
}

function throwsOneLine(f: () => unknown, includes: string) {
  try { f(); } catch (e) {
    const m = (e as Error).message;
    if (!m.includes(includes) || m.includes('\n')) throw new Error(`unexpected error: ${m}`);
    return;
  }
  throw new Error(`expected an error mentioning "${includes}"`);
}

test('batch norm rejects bad input with one-line errors', () => {
  const g = new Graph();
  const x = g.input('x', [4, 3, 1, 1]);
  const c3 = g.input('c3', [3]), c2 = g.input('c2', [2]);
  throwsOneLine(() => batchNorm2d(x, c2, c2, { name: 'layer1.0.bn1' }), 'layer1.0.bn1: weight has shape [2] but the input [4,3,1,1] has 3 channels');
  throwsOneLine(() => batchNorm2d(g.input('one', [1, 3, 1, 1]), c3, c3, { name: 'bn1' }), 'bn1: expected more than 1 value per channel when training');
  g.gradGroups = 3;
  throwsOneLine(() => batchNorm2d(x, c3, c3, { name: 'bn1' }), 'bn1: a batch of 4 does not split into 3 equal groups');
  const e = new Graph();
  e.mode = 'eval';
  throwsOneLine(() => batchNorm2d(e.input('x', [2, 3, 2, 2]), e.input('a', [3]), e.input('b', [3]), { name: 'bn2' }), 'bn2: eval mode needs running statistics');
});

test.run();

import { test } from 'uvu';
import { Graph, Node, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { getGpu } from '../engine/context.js';
import { batchNorm2d, RunningStats } from '../engine/ops/batchnorm.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { createModel } from '../models/registry.js';
import { LateCompiler, perExampleOf } from '../experiments/rules/per-example.js';
import type { Dispatch } from '../engine/gpu.js';
import { randn, assertClose } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

// The gradients of batch norm's gamma and beta are stored by the pass that combines the per-channel sums, with no
// pass of their own. These tests compare dx, dgamma and dbeta with plain float64 loops for each way the gradients
// are asked for: all of them, some of them, per gradient group, summed over groups, in eval mode, and compiled later
// on their own (per-example gradients, or one gradient into a scratch buffer).

const EPS = 1e-5;

/**
 * Float64 gradients of sum(y * dy) for batch norm over x [N, C, HW]: dx, and per gradient group k of N/K examples the
 * gradients of gamma (sum of dy * xhat) and beta (sum of dy), as [K, C]. `statsGroups` groups share statistics: the
 * batch's own per group in training, or `running` in eval mode (then dx = gamma * rstd * dy).
 */
function reference(x: Float32Array, dy: Float32Array, gamma: Float32Array, N: number, C: number, HW: number, K: number,
  statsGroups: number, running?: { mean: Float32Array; var: Float32Array }) {
  const dx = new Float64Array(x.length), dgamma = new Float64Array(K * C), dbeta = new Float64Array(K * C);
  const at = (n: number, c: number, i: number) => (n * C + c) * HW + i;
  const perStats = N / statsGroups, perGrad = N / K;
  for (let c = 0; c < C; c++) {
    for (let s = 0; s < statsGroups; s++) {
      const first = s * perStats;
      let mean: number, variance: number;
      if (running) {
        mean = running.mean[c];
        variance = running.var[c];
      } else {
        let total = 0;
        for (let n = first; n < first + perStats; n++) for (let i = 0; i < HW; i++) total += x[at(n, c, i)];
        mean = total / (perStats * HW);
        let sq = 0;
        for (let n = first; n < first + perStats; n++) for (let i = 0; i < HW; i++) sq += (x[at(n, c, i)] - mean) ** 2;
        variance = sq / (perStats * HW);
      }
      const rstd = 1 / Math.sqrt(variance + EPS);
      let sumDy = 0, sumDyXhat = 0;
      for (let n = first; n < first + perStats; n++)
        for (let i = 0; i < HW; i++) {
          const xhat = (x[at(n, c, i)] - mean) * rstd;
          sumDy += dy[at(n, c, i)];
          sumDyXhat += dy[at(n, c, i)] * xhat;
          const k = Math.floor(n / perGrad);
          dbeta[k * C + c] += dy[at(n, c, i)];
          dgamma[k * C + c] += dy[at(n, c, i)] * xhat;
        }
      const m = perStats * HW;
      for (let n = first; n < first + perStats; n++)
        for (let i = 0; i < HW; i++) {
          const xhat = (x[at(n, c, i)] - mean) * rstd;
          const d = dy[at(n, c, i)];
          dx[at(n, c, i)] = gamma[c] * rstd * (running ? d : d - sumDy / m - xhat * sumDyXhat / m);
        }
    }
  }
  return { dx, dgamma, dbeta };
}

/** Rows [K, C] summed over the groups into [C]. */
function sumGroups(a: Float64Array, K: number, C: number): Float64Array {
  const out = new Float64Array(C);
  for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) out[c] += a[k * C + c];
  return out;
}

interface Case {
  shape: [number, number, number, number];
  groups: number;
  /** Gamma and beta as parameters (per-group gradients [K, C] when K > 1) or as plain inputs (gradients [C]). */
  affine: 'param' | 'input';
  mode: 'train' | 'eval';
  /** Which gradients the program outputs. */
  want: ('dx' | 'dgamma' | 'dbeta')[];
}

/** Builds batch norm and the backward of sum(y * dy) for `cs`, with the program outputting only `cs.want`. */
async function build(cs: Case, rng: Rng) {
  const gpu = await getGpu();
  const [N, C, H, W] = cs.shape;
  const g = new Graph();
  g.gradGroups = cs.groups;
  g.mode = cs.mode;
  const X = Float32Array.from(randn(rng, N * C * H * W), (v, i) => 1.5 * v + (Math.floor(i / (H * W)) % C) - 2);
  const G = randn(rng, C), B = randn(rng, C), Dy = randn(rng, X.length);
  const running: RunningStats = {
    mean: new Parameter('bn.running_mean', [C], randn(rng, C)),
    var: new Parameter('bn.running_var', [C], Float32Array.from(randn(rng, C), (v) => 0.5 + v * v)),
    batchesTracked: null,
    momentum: 0.1,
  };
  const x = g.input('x', [N, C, H, W]);
  const affine = (name: string, v: Float32Array) => (cs.affine === 'param' ? g.param(new Parameter(name, [C], v)) : g.input(name, [C]));
  const gamma = affine('bn.weight', G), beta = affine('bn.bias', B);
  const y = batchNorm2d(x, gamma, beta, { running: cs.mode === 'eval' ? running : null, name: 'bn' });
  const dy = g.input('dy', y.shape);
  const grads = gradients(sum(mul(y, dy)), [x, gamma, beta]);
  const nodes = { dx: grads.get(x)!, dgamma: grads.get(gamma)!, dbeta: grads.get(beta)! };
  const program = new Program(gpu, g, cs.want.map((w) => nodes[w]));
  program.write(x, X);
  program.write(dy, Dy);
  if (cs.affine === 'input') {
    program.write(gamma, G);
    program.write(beta, B);
  }
  const want = reference(X, Dy, G, N, C, H * W, cs.groups, cs.mode === 'train' ? cs.groups : 1,
    cs.mode === 'eval' ? { mean: running.mean.init, var: running.var.init } : undefined);
  return { gpu, g, program, nodes, gamma, beta, want, X, Dy, G };
}

function labels(dispatches: Dispatch[]): string[] {
  return dispatches.map((d) => d.kernel.label);
}

function assertNoParamGradPass(name: string, dispatches: Dispatch[]) {
  const found = labels(dispatches).filter((l) => l.startsWith('batchnorm:param_grad'));
  if (found.length) throw new Error(`${name}: ${found.length} batchnorm param_grad dispatches, expected none`);
}

// Tolerances: dgamma and dbeta are float32 sums of N*HW/K terms of O(1) (1e-5 relative to sqrt of the count covers
// them); dx loses accuracy where its two means cancel much of dy, so 1e-4 absolute.
async function check(cs: Case, rng: Rng) {
  const [N, C, H, W] = cs.shape;
  const K = cs.groups;
  const { program, nodes, want } = await build(cs, rng);
  program.run();
  assertNoParamGradPass(JSON.stringify(cs), program.dispatches);
  const tag = `${cs.mode} [${cs.shape}] K=${K} ${cs.affine} wanting ${cs.want}`;
  const tol = 1e-5 * Math.sqrt((N / K) * H * W);
  const perGroup = cs.affine === 'param' && K > 1;
  for (const w of cs.want) {
    const got = (await program.read(nodes[w])) as Float32Array;
    if (w === 'dx') assertClose(`${tag}: dx`, got, want.dx, 1e-4, 1e-4);
    else {
      const rows = w === 'dgamma' ? want.dgamma : want.dbeta;
      const expect = perGroup ? rows : sumGroups(rows, K, C);
      if (got.length !== (perGroup ? K * C : C)) throw new Error(`${tag}: ${w} has ${got.length} values`);
      assertClose(`${tag}: ${w}`, got, expect, tol, 1e-4);
    }
  }
}

const all: Case['want'] = ['dx', 'dgamma', 'dbeta'];

for (const plans of ['gpu', 'lavapipe']) {
  test(`${plans} plans: batch norm dx, dgamma and dbeta match float64 loops, one group and three`, () => withPlans(plans, async () => {
    const rng = new Rng(41);
    for (const groups of [1, 3])
      for (const affine of ['param', 'input'] as const) await check({ shape: [3, 5, 7, 3], groups, affine, mode: 'train', want: all }, rng);
    await check({ shape: [9, 3, 5, 1], groups: 3, affine: 'param', mode: 'train', want: all }, rng);
  }));

  test(`${plans} plans: batch norm gradients when only some are asked for`, () => withPlans(plans, async () => {
    const rng = new Rng(42);
    for (const groups of [1, 3])
      for (const want of [['dx'], ['dgamma'], ['dbeta'], ['dx', 'dbeta'], ['dgamma', 'dx']] as Case['want'][]) {
        await check({ shape: [3, 5, 7, 3], groups, affine: 'param', mode: 'train', want }, rng);
      }
  }));

  test(`${plans} plans: eval-mode batch norm gradients with the running statistics`, () => withPlans(plans, async () => {
    const rng = new Rng(43);
    for (const groups of [1, 3])
      for (const affine of ['param', 'input'] as const) await check({ shape: [3, 5, 7, 3], groups, affine, mode: 'eval', want: all }, rng);
  }));
}

test('a parameter gradient compiled later on its own, into another buffer, gets its own pass and the right values', async () => {
  const rng = new Rng(44);
  for (const groups of [1, 3]) {
    const cs: Case = { shape: [3, 5, 7, 3], groups, affine: 'param', mode: 'train', want: ['dx'] };
    const { gpu, program, nodes, want } = await build(cs, rng);
    const [, C] = cs.shape;
    // Against the program's own buffer, which the combining pass already stores: nothing to add.
    const same = program.compile([nodes.dgamma]);
    if (same.length !== 0) throw new Error(`K=${groups}: dgamma compiled into the program's buffer recorded ${same.length} dispatches`);
    const scratch = gpu.buffer(groups * C, 'scratch');
    const late = program.compile([nodes.dbeta], (n) => (n === nodes.dbeta ? scratch : undefined));
    if (late.length !== 1 || !late[0].kernel.label.startsWith('batchnorm:param_grad')) {
      throw new Error(`K=${groups}: dbeta compiled into a scratch buffer recorded [${labels(late)}], expected one param_grad pass`);
    }
    program.run(late);
    const tol = 1e-5 * Math.sqrt((3 / groups) * 21);
    assertClose(`K=${groups}: dgamma read from the program`, (await program.read(nodes.dgamma)) as Float32Array, want.dgamma, tol, 1e-4);
    assertClose(`K=${groups}: dbeta in the scratch buffer`, await gpu.read(scratch, groups * C), want.dbeta, tol, 1e-4);
  }
});

test('per-example gradients of gamma and beta (backward rebuilt with one group per example) need no param_grad pass', async () => {
  const rng = new Rng(45);
  const [N, C, H, W] = [3, 5, 7, 3];
  const { gpu, g, program, gamma, beta, X, Dy, G } = await build({ shape: [N, C, H, W], groups: 1, affine: 'param', mode: 'train', want: all }, rng);
  // One group per example with the statistics of the whole batch, as the rules' per-example gradients define them.
  const want = reference(X, Dy, G, N, C, H * W, N, 1);
  for (const [param, rows] of [[gamma, want.dgamma], [beta, want.dbeta]] as [Node, Float64Array][]) {
    const pe = perExampleOf(g, param, N);
    if (pe.kind !== 'materialized') throw new Error(`${param.name}: per-example gradients are ${pe.kind}, expected materialized`);
    const late = new LateCompiler(gpu, program, [pe.grad]);
    const { dispatches, buffer } = late.compile(pe.grad);
    assertNoParamGradPass(`${param.name} per example`, dispatches);
    program.run(dispatches);
    assertClose(`${param.name} per example`, await gpu.read(buffer, N * C), rows, 1e-5 * Math.sqrt(H * W), 1e-4);
  }
});

// ResNet-18 has 17 batch norm layers on the main path and 3 on the downsampling shortcuts. At 32x32 and batch 4 every
// channel has at most 4 * 16 * 16 values, so the gpu plans reduce each in one pass.
const RESNET18_BN_LAYERS = 20;
const expectedPasses: Record<string, Record<string, number>> = {
  lavapipe: { stats_partial: 20, stats_combine: 20, grad_partial: 20, grad_combine: 20, input_grad: 20, param_grad: 0, stats: 0, grad_sums: 0 },
  gpu: { stats_partial: 0, stats_combine: 0, grad_partial: 0, grad_combine: 0, input_grad: 20, param_grad: 0, stats: 20, grad_sums: 20 },
};

for (const plans of ['lavapipe', 'gpu']) {
  test(`${plans} plans: a ResNet training step records no batch norm param_grad pass`, () => withPlans(plans, async () => {
    const gpu = await getGpu();
    const model = createModel('resnet18', { inputShape: [3, 32, 32], numClasses: 10, width: 0.125, rng: new Rng(1) });
    const trainer = new Trainer(gpu, model, { batchSize: 4, sgd: { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 } });
    const all = labels(trainer.train.program.dispatches);
    const got: Record<string, number> = {};
    for (const entry of Object.keys(expectedPasses[plans])) {
      got[entry] = all.filter((l) => l.startsWith(`batchnorm:${entry}:`) || l.startsWith(`batchnorm_onepass:${entry}:`)).length;
    }
    if (JSON.stringify(got) !== JSON.stringify(expectedPasses[plans])) {
      throw new Error(`${RESNET18_BN_LAYERS} batch norm layers: passes ${JSON.stringify(got)}, expected ${JSON.stringify(expectedPasses[plans])}`);
    }
  }));
}

test.run();

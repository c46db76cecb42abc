// The convolution weight gradient's split-K parts, chosen when a graph is built for a family of plans: against a float64
// plain-loop weight gradient on odd sizes, on graphs built for either family and compiled on either, and the parts the
// gpu plans choose for a VGG-sized layer (enough workgroups) versus the lavapipe plans' (unchanged).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d } from '../engine/ops/conv2d.js';
import { planGemm } from '../engine/ops/gemm_tiles.js';
import { Graph, Node, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { choosePlans, Plans } from '../engine/plans.js';
import { randn, assertClose } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

/** A 3x3 convolution x [N, C, H, H] -> O channels, weight gradient in `gradGroups` groups of consecutive examples. */
interface Case { N: number; C: number; H: number; O: number; stride: number; padding: number; groups: number; gradGroups: number }

/** dW[k, o, ci, i, j] = sum over group k's examples n and outputs (y, x) of dY[n, o, y, x] * X[n, c, y*s - p + i, x*s - p + j]. */
function weightGrad64(X: Float32Array, dY: Float32Array, c: Case, Ho: number): Float64Array {
  const Cg = c.C / c.groups, Og = c.O / c.groups, per = c.N / c.gradGroups, Wsize = c.O * Cg * 9;
  const dW = new Float64Array(c.gradGroups * Wsize);
  for (let n = 0; n < c.N; n++) {
    const k = Math.floor(n / per);
    for (let o = 0; o < c.O; o++)
      for (let ci = 0; ci < Cg; ci++) {
        const ch = Math.floor(o / Og) * Cg + ci;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) {
            let s = 0;
            for (let y = 0; y < Ho; y++)
              for (let x = 0; x < Ho; x++) {
                const iy = y * c.stride - c.padding + i, ix = x * c.stride - c.padding + j;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.H) continue;
                s += dY[((n * c.O + o) * Ho + y) * Ho + x] * X[((n * c.C + ch) * c.H + iy) * c.H + ix];
              }
            dW[k * Wsize + ((o * Cg + ci) * 3 + i) * 3 + j] += s;
          }
      }
  }
  return dW;
}

const weightGradNode = (g: Graph): Node => g.nodes.find((n) => n.op?.type === 'conv2d_weight_grad')!;
const partsOf = (n: Node): number => n.attrs.chunksPerGradGroup * n.attrs.slices;

async function plansFor(family: 'gpu' | 'lavapipe'): Promise<Plans> {
  const gpu = await getGpu();
  return choosePlans(gpu.report, gpu.device.features as ReadonlySet<string>, family);
}

/** The weight gradient of sum(conv(x, w) * r) for a graph built for `built` and compiled for `run`, and its parts. */
async function weightGradOn(c: Case, built: 'gpu' | 'lavapipe', run: 'gpu' | 'lavapipe', X: Float32Array, R: Float32Array) {
  const buildPlans = await plansFor(built);
  return withPlans(run, async () => {
    const g = new Graph();
    g.plans = buildPlans;
    g.gradGroups = c.gradGroups;
    const x = g.input('x', [c.N, c.C, c.H, c.H]);
    const w = g.param(new Parameter('conv.weight', [c.O, c.C / c.groups, 3, 3], randn(new Rng(5), (c.O * c.C * 9) / c.groups)));
    const y = conv2d(x, w, null, { stride: c.stride, padding: c.padding, groups: c.groups });
    const r = g.input('r', y.shape);
    const grad = gradients(sum(mul(y, r)), [w]).get(w)!;
    const prog = new Program(await getGpu(), g, [grad]);
    prog.write(x, X);
    prog.write(r, R);
    prog.run();
    return { got: (await prog.read(grad)) as Float32Array, parts: partsOf(weightGradNode(g)), Ho: y.shape[2] };
  });
}

const cases: Case[] = [
  { N: 7, C: 5, H: 9, O: 6, stride: 1, padding: 0, groups: 1, gradGroups: 1 },
  { N: 7, C: 5, H: 13, O: 6, stride: 2, padding: 1, groups: 1, gradGroups: 1 },
  { N: 7, C: 6, H: 9, O: 6, stride: 1, padding: 1, groups: 3, gradGroups: 1 },
  { N: 9, C: 6, H: 19, O: 6, stride: 2, padding: 1, groups: 2, gradGroups: 3 },
  { N: 9, C: 5, H: 13, O: 6, stride: 1, padding: 1, groups: 1, gradGroups: 3 },
  { N: 7, C: 5, H: 9, O: 6, stride: 1, padding: 1, groups: 1, gradGroups: 7 },
];

test('weight gradient on graphs built for the gpu plans and for the lavapipe plans, compiled on each: float64 reference', async () => {
  const splits: number[] = [];
  for (const [i, c] of cases.entries()) {
    const rng = new Rng(70 + i);
    const X = randn(rng, c.N * c.C * c.H * c.H);
    const Ho = Math.floor((c.H + 2 * c.padding - 3) / c.stride) + 1;
    const R = randn(rng, c.N * c.O * Ho * Ho);
    const want = weightGrad64(X, R, c, Ho);
    const terms = (c.N / c.gradGroups) * Ho * Ho;
    for (const [built, run] of [['gpu', 'gpu'], ['lavapipe', 'gpu'], ['gpu', 'lavapipe']] as const) {
      const { got, parts } = await weightGradOn(c, built, run, X, R);
      assertClose(`${JSON.stringify(c)} built for ${built}, run on ${run} (${parts} parts)`, got, want, 1e-5 * terms, 1e-4);
      if (built === 'gpu' && run === 'gpu') splits.push(parts);
    }
  }
  // The gpu plans split all but the per-example case, one unevenly (the last part shorter): the split path is what was checked.
  assert.ok(splits.slice(0, -1).every((p) => p > 1), `gpu parts per case: ${splits}`);
  assert.ok(cases.some((c, i) => splits[i] > 1 && (c.N / c.gradGroups) % splits[i] !== 0), `gpu parts per case: ${splits}`);
});

/** The workgroups of the gpu plans' weight-gradient dispatch for a graph's split (as conv2d_tiled.ts sizes its grid). */
function workgroups(n: Node, workgroupBytes: number): number {
  const geo = n.attrs.geo, parts = partsOf(n), z = (n.attrs.chunks / n.attrs.chunksPerGradGroup) * geo.groups;
  const M = geo.O / geo.groups, N = (geo.C / geo.groups) * geo.KH * geo.KW, K = (geo.N / (z / geo.groups)) * geo.Ho * geo.Wo;
  const { grid } = planGemm(M, N, Math.ceil(K / parts), z * parts, workgroupBytes, { canSplit: false });
  return grid[0] * grid[1] * grid[2];
}

function vggLayer(plans: Plans | undefined, gradGroups = 1): Node {
  const g = new Graph();
  g.plans = plans;
  g.gradGroups = gradGroups;
  const x = g.input('x', [32, 64, 112, 112]);
  const w = g.param(new Parameter('conv.weight', [128, 64, 3, 3], new Float32Array(128 * 64 * 9)));
  gradients(sum(conv2d(x, w, null, { padding: 1 })), [w]);
  return weightGradNode(g);
}

test('a VGG-sized weight gradient (128x576, K = 32 x 112 x 112): >= 256 workgroups on the gpu plans, the lavapipe split unchanged', async () => {
  const gpuPlans: Plans = { ...(await plansFor('gpu')), workgroupBytes: 48 * 1024 };
  const onGpu = vggLayer(gpuPlans);
  assert.ok(workgroups(onGpu, gpuPlans.workgroupBytes) >= 256, `${partsOf(onGpu)} parts give ${workgroups(onGpu, gpuPlans.workgroupBytes)} workgroups`);
  // Whole examples per part, none empty.
  assert.ok((partsOf(onGpu) - 1) * onGpu.attrs.perChunk < 32 && partsOf(onGpu) * onGpu.attrs.perChunk >= 32, `${partsOf(onGpu)} x ${onGpu.attrs.perChunk}`);
  // Lavapipe plans, or none: exactly the attributes the lavapipe heuristic always gave (one part of 32 examples here).
  const lavapipe = vggLayer(await plansFor('lavapipe')), unknown = vggLayer(undefined);
  assert.equal(lavapipe.attrs, unknown.attrs);
  assert.equal(lavapipe.shape, unknown.shape);
  assert.is(partsOf(lavapipe), 1);
});

test.run();

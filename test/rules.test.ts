import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getGpu } from '../engine/context.js';
import { Gpu } from '../engine/gpu.js';
import { Graph, Node, Parameter } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { matmul } from '../engine/ops/matmul.js';
import { addBias } from '../engine/ops/bias.js';
import { relu } from '../engine/ops/elementwise.js';
import { mean, sumMiddle } from '../engine/ops/reduce.js';
import { batchNorm2d } from '../engine/ops/batchnorm.js';
import { GradientTransform, GradSlot, SumGroups } from '../engine/optim.js';
import { Trainer, Network } from '../engine/trainer.js';
import { Mlp } from '../models/mlp.js';
import { CifarResNet } from '../models/resnet-cifar.js';
import { Rng } from '../engine/random.js';
import { loadDataset } from '../engine/data/node-data.js';
import { subset, BatchIterator } from '../engine/data/dataset.js';
import { Rolling3 } from '../experiments/rules/rolling.js';
import { OnePassM3 } from '../experiments/rules/m3.js';
import { SerialM3 } from '../experiments/rules/serial-m3.js';
import { Winsorize, winsorizeOuter, winsorizeColumns } from '../experiments/rules/winsorize.js';
import { createRule, validateRuleOptions, ruleWarnings, trainerBatchSize, RuleError, RuleOptions, RuleName, createCoherenceProbe, RULE_HELP } from '../experiments/rules/index.js';
import { randn, assertClose } from './helpers/check.js';
import { refGradients, RefLayer } from './helpers/ref-mlp.js';
import { sortedMedian, winsorizedSum, coherenceSums, patchPerExample, PatchParams, bnPerExample, BnParams } from './helpers/rules-ref.js';

const fr = Math.fround;

/** Runs a transform on its own: raw gradients written from the CPU, one submission per step. */
async function transformRig(t: GradientTransform, sizes: number[], separateOut: boolean) {
  const gpu = await getGpu();
  const slots: GradSlot[] = sizes.map((n, i) => {
    const param = new Parameter(`p${i}`, [n], new Float32Array(n));
    const raw = gpu.buffer(t.groups * n, `raw${i}`);
    return { param, node: null as unknown as Node, raw, out: separateOut ? gpu.buffer(n, `out${i}`) : raw, size: n };
  });
  const dispatches = t.compile(gpu, slots, null as unknown as Program);
  return {
    async step(step: number, raws: Float32Array[]): Promise<Float32Array[]> {
      raws.forEach((r, i) => gpu.write(slots[i].raw, r));
      t.prepare?.(step);
      gpu.submit(dispatches);
      const outs: Float32Array[] = [];
      for (const s of slots) outs.push((await gpu.read(s.out, s.size)) as Float32Array);
      return outs;
    },
  };
}

/** Random values with many ties: a few levels, some of them repeated exactly, mixed with normals. */
function tied(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() < 0.6 ? (rng.int(5) - 2) * 0.25 : rng.normal();
  return a;
}

function assertExact(name: string, got: ArrayLike<number>, want: ArrayLike<number>) {
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(got[i] === 0 && want[i] === 0)) throw new Error(`${name}: element ${i} is ${got[i]}, expected exactly ${want[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Median kernels

test('one-pass M3 median of K slices matches a sorting reference with ties, K = 1..7, 10, 16, sizes 1000 and 1001 (exact)', async () => {
  const rng = new Rng(11);
  for (const n of [1001, 1000]) for (const K of [1, 2, 3, 4, 5, 6, 7, 10, 16]) {
    // n = 1000 takes the kernel's four-at-a-time path, 1001 the one-at-a-time path.
    const rig = await transformRig(new OnePassM3(K), [n], true);
    const raw = tied(rng, K * n);
    const [out] = await rig.step(0, [raw]);
    const want = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = Array.from({ length: K }, (_, k) => raw[k * n + i]).sort((a, b) => a - b);
      // Emulates the kernel's float32 arithmetic: K * middle, or K * (0.5 * (a + b)).
      const m = K % 2 === 1 ? v[(K - 1) / 2] : fr(0.5 * fr(v[K / 2 - 1] + v[K / 2]));
      want[i] = fr(K * m);
      if (fr(K * sortedMedian(v)) !== want[i] && K % 2 === 1) throw new Error('reference disagreement');
    }
    assertExact(`n=${n} K=${K}`, out, want);
  }
});

test('serial M3: zero updates inside a cycle, the median of the K micro-batch gradients at its end (K = 3, 4)', async () => {
  const rng = new Rng(12);
  for (const n of [333, 332]) for (const K of [3, 4]) {
    const rig = await transformRig(new SerialM3(K), [n], false);
    for (let cycle = 0; cycle < 2; cycle++) {
      const seen: Float32Array[] = [];
      for (let j = 0; j < K; j++) {
        const g = tied(rng, n);
        seen.push(g);
        const [out] = await rig.step(cycle * K + j, [g]);
        if (j < K - 1) assertExact(`K=${K} step ${j}`, out, new Float32Array(n));
        else {
          const want = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            const v = seen.map((s) => s[i]).sort((a, b) => a - b);
            want[i] = K % 2 === 1 ? v[(K - 1) / 2] : fr(0.5 * fr(v[K / 2 - 1] + v[K / 2]));
          }
          assertExact(`K=${K} cycle ${cycle}`, out, want);
        }
      }
    }
  }
});

test('RM3 is the median and RA3 the mean of the last three gradients; both make no update on steps 0 and 1', async () => {
  const rng = new Rng(13);
  const sizes = [257, 64];
  for (const combine of ['median', 'mean'] as const) {
    const rig = await transformRig(new Rolling3(combine), sizes, false);
    const history: Float32Array[][] = [];
    for (let step = 0; step < 7; step++) {
      const raws = sizes.map((n) => tied(rng, n));
      history.push(raws);
      const outs = await rig.step(step, raws);
      sizes.forEach((n, p) => {
        const name = `${combine} step ${step} param ${p}`;
        if (step < 2) return assertExact(name, outs[p], new Float32Array(n));
        const last3 = history.slice(-3).map((h) => h[p]);
        const want = new Float64Array(n), scale = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const v = last3.map((g) => g[i]);
          want[i] = combine === 'median' ? sortedMedian(v) : (v[0] + v[1] + v[2]) / 3;
          scale[i] = Math.abs(v[0]) + Math.abs(v[1]) + Math.abs(v[2]);
        }
        // The median is one of the inputs, exactly; the float32 mean is within a few roundings of |g|.
        if (combine === 'median') assertExact(name, outs[p], want);
        else for (let i = 0; i < n; i++) {
          if (!(Math.abs(outs[p][i] - want[i]) <= 4e-7 * scale[i])) throw new Error(`${name}: element ${i} is ${outs[p][i]}, expected ${want[i]}`);
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// M3: the paper's example

test("the paper's M3 example: a common component plus idiosyncratic ones in one group each; M3 returns c, SGD does not", async () => {
  const gpu = await getGpu();
  // Transform level, exactly: group means c + u_k with the u_k's supports disjoint from c and each other.
  // c/3 is exact in float32 (multiples of 3 * 2^-k), so the slice arithmetic is exact.
  const c = [3, -1.5, 0.75, 6];
  const n = c.length + 3 * 4;
  const slices = new Float32Array(3 * n);
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < c.length; j++) slices[k * n + j] = c[j] / 3;
    for (let j = 0; j < 4; j++) slices[k * n + c.length + 4 * k + j] = (1 + j + k) / 7 / 3;
  }
  const want = [...c, ...new Array(n - c.length).fill(0)];
  const [m3] = await (await transformRig(new OnePassM3(3), [n], true)).step(0, [slices]);
  assertExact('M3 of group gradients', m3, want);
  const [sgd] = await (await transformRig(new SumGroups(3), [n], true)).step(0, [slices]);
  if (sgd.slice(c.length).every((v) => v === 0)) throw new Error('SGD should keep the idiosyncratic components');

  // Through the grouped weight gradient: loss = mean_i (x_i · w), so example i's gradient is x_i = c + u_i,
  // with u_i on a coordinate of its own. Batch 12 in 3 groups of 4.
  const B = 12, F = c.length + B;
  const rng = new Rng(3);
  const x = new Float32Array(B * F);
  for (let i = 0; i < B; i++) {
    c.forEach((v, j) => (x[i * F + j] = v));
    x[i * F + c.length + i] = 1 + rng.uniform();
  }
  const g = new Graph();
  g.gradGroups = 3;
  const xs = g.input('x', [B, F]);
  const w = new Parameter('w', [1, F], randn(rng, F));
  const wn = g.param(w);
  const loss = mean(matmul(xs, wn, { transB: true }));
  const grad = gradients(loss, [wn]).get(wn)!;
  const program = new Program(gpu, g, [grad]);
  program.write(xs, x);
  const out = gpu.buffer(F), sumOut = gpu.buffer(F);
  const slot = (o: GPUBuffer): GradSlot => ({ param: w, node: wn, raw: program.buf(grad), out: o, size: F });
  program.run([...new OnePassM3(3).compile(gpu, [slot(out)]), ...new SumGroups(3).compile(gpu, [slot(sumOut)], program)]);
  const got = (await gpu.read(out, F)) as Float32Array;
  const mean_ = (await gpu.read(sumOut, F)) as Float32Array;
  assertClose('M3 on common coordinates', got.slice(0, c.length), c, 0, 1e-6); // 4 float32 roundings of c/12 sums
  assertExact('M3 on idiosyncratic coordinates', got.slice(c.length), new Float32Array(B));
  for (let i = 0; i < B; i++) {
    const want_ = x[i * F + c.length + i] / B;
    if (!(Math.abs(mean_[c.length + i] - want_) <= 1e-6 * want_)) throw new Error(`SGD idiosyncratic coordinate ${i} is ${mean_[c.length + i]}, expected ${want_}`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Winsorization kernels

/** Largest error of a float32 sum of B products, less 2s values, plus 2s: (B + 2s + 4) roundings of sum |v|. */
function winsorTolerance(values: number[], s: number): number {
  return (values.length + 2 * s + 4) * 2 ** -24 * values.reduce((a, v) => a + Math.abs(v), 0) + 1e-30;
}

test('winsorized combination matches a sort-based float64 reference, B = 8, 32, 100, s = 0..4, with ties', async () => {
  const gpu = await getGpu();
  const rng = new Rng(21);
  const [rows, cols, n] = [5, 13, 37];
  for (const B of [8, 32, 100]) {
    const x = tied(rng, B * cols), dy = tied(rng, B * rows), v = tied(rng, B * n);
    const xb = gpu.buffer(x.length, 'x', x), dyb = gpu.buffer(dy.length, 'dy', dy), vb = gpu.buffer(v.length, 'v', v);
    for (let s = 0; s <= 4 && 2 * s + 1 < B; s++) {
      const outW = gpu.buffer(rows * cols), outB = gpu.buffer(rows), outV = gpu.buffer(n);
      gpu.submit([
        winsorizeOuter(gpu, xb, dyb, outW, rows, cols, B, s),
        winsorizeColumns(gpu, dyb, outB, rows, B, s),
        winsorizeColumns(gpu, vb, outV, n, B, s),
      ]);
      const cases: [string, GPUBuffer, number, (b: number, i: number) => number][] = [
        ['dense weight', outW, rows * cols, (b, i) => fr(dy[b * rows + Math.floor(i / cols)] * x[b * cols + (i % cols)])],
        ['bias', outB, rows, (b, i) => dy[b * rows + i]],
        ['materialised', outV, n, (b, i) => v[b * n + i]],
      ];
      for (const [what, buf, size, value] of cases) {
        const got = (await gpu.read(buf, size)) as Float32Array;
        for (let i = 0; i < size; i++) {
          const vals = Array.from({ length: B }, (_, b) => value(b, i));
          const want = winsorizedSum(vals, s);
          if (!(Math.abs(got[i] - want) <= winsorTolerance(vals, s))) throw new Error(`${what} B=${B} s=${s} coordinate ${i}: ${got[i]}, expected ${want}`);
        }
      }
    }
  }
});

class PatchNet implements Network {
  readonly inputShape: number[];
  readonly W1: Parameter; readonly b1: Parameter; readonly W2: Parameter; readonly b2: Parameter;
  constructor(readonly T: number, readonly F: number, readonly H: number, readonly numClasses: number, rng: Rng) {
    this.inputShape = [T, F];
    this.W1 = new Parameter('patch.weight', [H, F], randn(rng, H * F, 0.5));
    this.b1 = new Parameter('patch.bias', [H], randn(rng, H, 0.1));
    this.W2 = new Parameter('head.weight', [numClasses, H], randn(rng, numClasses * H, 0.5));
    this.b2 = new Parameter('head.bias', [numClasses], randn(rng, numClasses, 0.1));
  }
  parameters() { return [this.W1, this.b1, this.W2, this.b2]; }
  buffers() { return []; }
  forward(g: Graph, x: Node): Node {
    const B = x.shape[0];
    // The patch layer's rows are B·T positions, not examples: its per-example gradients are materialised.
    const h = relu(addBias(matmul(x, g.param(this.W1), { transB: true }), g.param(this.b1)));
    const pooled = sumMiddle(h, B, this.T, this.H);
    return addBias(matmul(pooled, g.param(this.W2), { transB: true }), g.param(this.b2));
  }
  ref(): PatchParams {
    const f = (p: Parameter) => Float64Array.from(p.init);
    return { W1: f(this.W1), b1: f(this.b1), W2: f(this.W2), b2: f(this.b2), T: this.T, F: this.F, H: this.H, C: this.numClasses };
  }
}

test('winsorize in training: dense factors and materialised per-example gradients match float64 per-example references', async () => {
  const gpu = await getGpu();
  const rng = new Rng(22);
  const [B, T, F, H, C, s] = [10, 3, 7, 6, 4, 2];
  const net = new PatchNet(T, F, H, C, rng);
  const trainer = new Trainer(gpu, net, { batchSize: B, sgd: { lr: 0, momentum: 0, weightDecay: 0 }, transform: new Winsorize(s, B) });
  const x = randn(rng, B * T * F);
  const y = new Int32Array(B).map(() => rng.int(C));
  trainer.step(x, y, 0, 0);
  const per = patchPerExample(net.ref(), x, y, B);
  for (let p = 0; p < 4; p++) {
    const slot = trainer.sgd.slots[p];
    const got = (await gpu.read(slot.out, slot.size)) as Float32Array;
    for (let i = 0; i < slot.size; i++) {
      const vals = per.map((g) => g[p][i]);
      const want = winsorizedSum(vals, s);
      // Per-example values come from float32 forward/backward passes (relative error ~1e-6 each).
      const tol = 2e-6 * vals.reduce((a, v) => a + Math.abs(v), 0) + 1e-9;
      if (!(Math.abs(got[i] - want) <= tol)) throw new Error(`${slot.param.name}[${i}]: ${got[i]}, expected ${want}`);
    }
  }
});

class BnNet implements Network {
  readonly inputShape: number[];
  readonly gamma: Parameter; readonly beta: Parameter; readonly W: Parameter; readonly b: Parameter;
  constructor(readonly C: number, readonly H: number, readonly numClasses: number, rng: Rng) {
    this.inputShape = [C, H, H];
    const F = C * H * H;
    this.gamma = new Parameter('bn.weight', [C], Float32Array.from(randn(rng, C, 0.3), (v) => 1 + v));
    this.beta = new Parameter('bn.bias', [C], randn(rng, C, 0.3));
    this.W = new Parameter('fc.weight', [numClasses, F], randn(rng, numClasses * F, 0.3));
    this.b = new Parameter('fc.bias', [numClasses], randn(rng, numClasses, 0.1));
  }
  parameters() { return [this.gamma, this.beta, this.W, this.b]; }
  buffers() { return []; }
  forward(g: Graph, x: Node): Node {
    const h = relu(batchNorm2d(x, g.param(this.gamma), g.param(this.beta)));
    return addBias(matmul(g.view(h, [x.shape[0], h.size / x.shape[0]]), g.param(this.W), { transB: true }), g.param(this.b));
  }
  ref(): BnParams {
    const f = (p: Parameter) => Float64Array.from(p.init);
    return { gamma: f(this.gamma), beta: f(this.beta), W: f(this.W), b: f(this.b), C: this.C, HW: this.H * this.H, K: this.numClasses, eps: 1e-5 };
  }
}

test('batch norm: winsorized gamma and beta from materialised per-example gradients (whole-batch statistics) and coherence match float64', async () => {
  const gpu = await getGpu();
  const rng = new Rng(23);
  const [B, C, H, K, s] = [8, 3, 3, 4, 1];
  const net = new BnNet(C, H, K, rng);
  const trainer = new Trainer(gpu, net, { batchSize: B, sgd: { lr: 0, momentum: 0, weightDecay: 0 }, transform: new Winsorize(s, B) });
  const x = randn(rng, B * C * H * H);
  const y = new Int32Array(B).map(() => rng.int(K));
  trainer.step(x, y, 0, 0);
  const per = bnPerExample(net.ref(), x, y, B);
  let num = 0, den = 0;
  for (let p = 0; p < 4; p++) {
    const slot = trainer.sgd.slots[p];
    const got = (await gpu.read(slot.out, slot.size)) as Float32Array;
    for (let i = 0; i < slot.size; i++) {
      const vals = per.map((g) => g[p][i]);
      const want = winsorizedSum(vals, s);
      // Batch norm's float32 statistics and reductions: relative error a few 1e-6 of the values' sizes.
      const tol = 1e-5 * vals.reduce((a, v) => a + Math.abs(v), 0) + 1e-9;
      if (!(Math.abs(got[i] - want) <= tol)) throw new Error(`${slot.param.name}[${i}]: ${got[i]}, expected ${want}`);
    }
    const r = coherenceSums(per.map((g) => g[p]));
    num += r.normOfSum;
    den += r.sumOfNorms;
  }
  const c = await createCoherenceProbe(trainer).measure();
  assertClose('batch-norm net coherence', [c.coherence, c.normOfSum, c.sumOfNorms], [num / den, num, den], 0, 5e-5);
});

test('a CIFAR ResNet-8 (convolutions, batch norm, option-A shortcuts): materialised per-example gradients sum to the batch gradient (winsorize s = 0 vs SGD)', async () => {
  const gpu = await getGpu();
  const rng = new Rng(24);
  const B = 6;
  const make = () => new CifarResNet(8, [3, 8, 8], 10, new Rng(5), { width: 0.25 });
  const [m1, m2] = [make(), make()];
  const sgd = { lr: 0, momentum: 0, weightDecay: 0 };
  const t1 = new Trainer(gpu, m1, { batchSize: B, sgd });
  const t2 = new Trainer(gpu, m2, { batchSize: B, sgd, transform: new Winsorize(0, B) });
  const x = randn(rng, B * 3 * 8 * 8);
  const y = new Int32Array(B).map(() => rng.int(10));
  t1.step(x, y, 0, 0);
  t2.step(x, y, 0, 0);
  for (let i = 0; i < t1.sgd.slots.length; i++) {
    const [a, b] = [t1.sgd.slots[i], t2.sgd.slots[i]];
    const want = (await gpu.read(a.out, a.size)) as Float32Array;
    const got = (await gpu.read(b.out, b.size)) as Float32Array;
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // Sums of B per-example terms against the conv kernels' chunked reductions: float32 reassociation.
    assertClose(a.param.name, got, want, 1e-5 * scale + 1e-12, 1e-4);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Rules inside the trainer

function refLayers(model: Mlp): RefLayer[] {
  return model.layers.map((l) => ({ W: Float64Array.from(l.weight.init), b: Float64Array.from(l.bias!.init), out: l.outFeatures, inp: l.inFeatures }));
}

async function readParams(gpu: Gpu, model: Mlp): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const p of model.parameters()) out.push((await gpu.read(p.buffer!, p.size)) as Float32Array);
  return out;
}

test('RM3 in the trainer: steps 0 and 1 leave the weights unchanged; step 2 applies the median of g + wd·w over the three batches', async () => {
  const gpu = await getGpu();
  const rng = new Rng(31);
  const [B, inp, C] = [8, 11, 5];
  const model = new Mlp([inp], C, [9], rng);
  const sgd = { lr: 0.5, momentum: 0, weightDecay: 0.05 };
  const trainer = new Trainer(gpu, model, { batchSize: B, sgd, transform: new Rolling3('median') });
  const layers = refLayers(model);
  const initial = model.parameters().map((p) => Float32Array.from(p.init));
  const grads: Float64Array[][] = [];
  for (let step = 0; step < 3; step++) {
    const x = randn(rng, B * inp);
    const y = new Int32Array(B).map(() => rng.int(C));
    trainer.step(x, y, step, sgd.lr);
    const g = refGradients(layers, Float64Array.from(x), y, B).grads;
    grads.push(g.flatMap((l) => [l.W, l.b]));
    if (step < 2) (await readParams(gpu, model)).forEach((p, i) => assertExact(`step ${step} ${model.parameters()[i].name}`, p, initial[i]));
  }
  const after = await readParams(gpu, model);
  model.parameters().forEach((p, i) => {
    const w0 = initial[i];
    const want = Float64Array.from(w0, (w, j) => w - sgd.lr * sortedMedian(grads.map((g) => g[i][j] + sgd.weightDecay * w)));
    // Gradients are float32 forward/backward results (relative error ~1e-6), times lr = 0.5.
    assertClose(p.name, after[i], want, 1e-6, 1e-5);
  });
});

async function readAll(gpu: Gpu, params: Parameter[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const p of params) out.push((await gpu.read(p.buffer!, p.size)) as Float32Array);
  return out;
}

test('one-pass M3 on a batch of 3b equals serial M3 on its three micro-batches of b, from the same weights, with weight decay (MLP; batch norm)', async () => {
  const gpu = await getGpu();
  const rng = new Rng(32);
  const [b, inp, C] = [5, 12, 4];
  const sgd = { lr: 0.3, momentum: 0, weightDecay: 0.02 };
  // The batch-norm net normalises each group with its own statistics in one pass, as the micro-batches are.
  const models: [string, () => Network & { parameters(): Parameter[] }][] = [
    ['mlp', () => new Mlp([inp], C, [10, 7], new Rng(7))],
    ['batch norm', () => new BnNet(3, 2, C, new Rng(7))],
  ];
  for (const [name, make] of models) {
    const one = make(), ser = make();
    const t1 = new Trainer(gpu, one, { batchSize: 3 * b, sgd, transform: createRule({ rule: 'm3', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: 3 * b, momentum: 0 }) });
    const o: RuleOptions = { rule: 'm3', groups: 3, winsor: 0, m3Mode: 'serial', batchSize: 3 * b, momentum: 0 };
    const t3 = new Trainer(gpu, ser, { batchSize: trainerBatchSize(o), sgd, transform: createRule(o) });
    const initial = await readAll(gpu, ser.parameters());
    for (let update = 0; update < 2; update++) {
      const x = randn(rng, 3 * b * inp);
      const y = new Int32Array(3 * b).map(() => rng.int(C));
      t1.step(x, y, update, sgd.lr);
      for (let k = 0; k < 3; k++) {
        t3.step(x.subarray(k * b * inp, (k + 1) * b * inp), y.subarray(k * b, (k + 1) * b), 3 * update + k, sgd.lr);
        if (update === 0 && k < 2) (await readAll(gpu, ser.parameters())).forEach((p, i) => assertExact(`${name}: serial micro-batch ${k}`, p, initial[i]));
      }
      const [a, s] = [await readAll(gpu, one.parameters()), await readAll(gpu, ser.parameters())];
      // Same medians of the same group gradients; they differ only in float32 rounding of K·(sum/B) vs sum/b.
      a.forEach((p, i) => assertClose(`${name} update ${update} ${one.parameters()[i].name}`, s[i], p, 1e-6, 1e-5));
      if (a.every((p, i) => p.every((v, j) => v === initial[i][j]))) throw new Error(`${name}: the weights did not move`);
    }
  }
});

test('winsorize with s = 0 equals SGD up to rounding, with momentum and weight decay over three steps', async () => {
  const gpu = await getGpu();
  const rng = new Rng(33);
  const [B, inp, C] = [12, 17, 6];
  const m1 = new Mlp([inp], C, [9, 8], new Rng(8));
  const m2 = new Mlp([inp], C, [9, 8], new Rng(8));
  const sgd = { lr: 0.2, momentum: 0.9, weightDecay: 0.01 };
  const t1 = new Trainer(gpu, m1, { batchSize: B, sgd });
  const t2 = new Trainer(gpu, m2, { batchSize: B, sgd, transform: new Winsorize(0, B) });
  for (let step = 0; step < 3; step++) {
    const x = randn(rng, B * inp);
    const y = new Int32Array(B).map(() => rng.int(C));
    t1.step(x, y, step, sgd.lr);
    t2.step(x, y, step, sgd.lr);
  }
  const [a, b] = [await readParams(gpu, m1), await readParams(gpu, m2)];
  a.forEach((p, i) => assertClose(m1.parameters()[i].name, b[i], p, 1e-6, 1e-5)); // summation order differs
  // Winsorize reads dense layers through their factors, so their batch weight gradients are not computed.
  const products = (t: Trainer) => t.train.program.order.filter((n) => n.kind === 'op' && n.op!.type === 'matmul').length;
  assert.is(products(t1) - products(t2), 3, 'one weight-gradient product fewer per dense layer');
});

// ---------------------------------------------------------------------------------------------------------
// Gradient coherence

class Dense implements Network {
  readonly W: Parameter;
  constructor(readonly F: number, readonly numClasses: number, rng: Rng) {
    this.W = new Parameter('w', [numClasses, F], randn(rng, numClasses * F, 0.3));
  }
  get inputShape() { return [this.F]; }
  parameters() { return [this.W]; }
  buffers() { return []; }
  forward(g: Graph, x: Node): Node { return matmul(x, g.param(this.W), { transB: true }); }
}

test('coherence is B for identical and 1 for orthogonal per-example gradients', async () => {
  const gpu = await getGpu();
  const rng = new Rng(41);
  const [B, F, C] = [9, 12, 3];
  const t = new Trainer(gpu, new Dense(F, C, rng), { batchSize: B, sgd: { lr: 0.1, momentum: 0, weightDecay: 0 } });
  const probe = createCoherenceProbe(t);
  const same = new Float32Array(B * F);
  const one = randn(rng, F);
  for (let b = 0; b < B; b++) same.set(one, b * F);
  t.step(same, new Int32Array(B).fill(1), 0, 0.1);
  const identical = await probe.measure();
  assertClose('identical', [identical.coherence], [B], 0, 1e-5);
  const onehot = new Float32Array(B * F);
  for (let b = 0; b < B; b++) onehot[b * F + b] = 1 + b;
  t.step(onehot, new Int32Array(B).map(() => rng.int(C)), 1, 0.1);
  const orthogonal = await probe.measure();
  assertClose('orthogonal', [orthogonal.coherence], [1], 0, 1e-5);
});

test('coherence matches a float64 per-example reference: an MLP (dense factors) and the patch network (materialised)', async () => {
  const gpu = await getGpu();
  const rng = new Rng(42);
  const [B, inp, C] = [9, 10, 4];
  const model = new Mlp([inp], C, [8, 6], rng);
  const t = new Trainer(gpu, model, { batchSize: B, sgd: { lr: 0.1, momentum: 0, weightDecay: 0 } });
  const x = randn(rng, B * inp);
  const y = new Int32Array(B).map(() => rng.int(C));
  t.step(x, y, 0, 0.1);
  const got = await createCoherenceProbe(t).measure();
  const layers = refLayers(model);
  const per = Array.from({ length: B }, (_, b) => refGradients(layers, Float64Array.from(x.subarray(b * inp, (b + 1) * inp)), y.subarray(b, b + 1), 1).grads.flatMap((l) => [l.W.map((v) => v / B), l.b.map((v) => v / B)]));
  let num = 0, den = 0;
  for (let p = 0; p < per[0].length; p++) {
    const r = coherenceSums(per.map((g) => g[p]));
    num += r.normOfSum;
    den += r.sumOfNorms;
    assertClose(`${got.byParameter[p].name} sums`, [got.byParameter[p].normOfSum, got.byParameter[p].sumOfNorms], [r.normOfSum, r.sumOfNorms], 0, 2e-5);
  }
  assertClose('MLP coherence', [got.coherence], [num / den], 0, 2e-5);

  const [T, F, H] = [4, 5, 6];
  const net = new PatchNet(T, F, H, C, rng);
  // Under one-pass M3 the graph reduces in 3 groups; the probe regroups per example regardless.
  const tp = new Trainer(gpu, net, { batchSize: B, sgd: { lr: 0.1, momentum: 0, weightDecay: 0 }, transform: new OnePassM3(3) });
  const xp = randn(rng, B * T * F);
  tp.step(xp, y, 0, 0.1);
  const pg = await createCoherenceProbe(tp).measure();
  const pper = patchPerExample(net.ref(), xp, y, B);
  let pn = 0, pd = 0;
  for (let p = 0; p < 4; p++) {
    const r = coherenceSums(pper.map((g) => g[p]));
    pn += r.normOfSum;
    pd += r.sumOfNorms;
  }
  // Float32 forward/backward and sums of squares: relative error a few 1e-6.
  assertClose('patch coherence', [pg.coherence, pg.normOfSum, pg.sumOfNorms], [pn / pd, pn, pd], 0, 2e-5);
});

// ---------------------------------------------------------------------------------------------------------
// Options

test('bad rule options give one-line errors naming the valid range', () => {
  const base: RuleOptions = { rule: 'sgd', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: 32, momentum: 0 };
  const cases: [Partial<RuleOptions>, RegExp][] = [
    [{ rule: 'adam' as RuleName }, /unknown rule 'adam': use one of sgd, ra3, rm3, m3, winsorize/],
    [{ rule: 'm3', groups: 5 }, /--groups 5 .* batch of 32 .*1\.\.64 \(1, 2, 4, 8, 16, 32\)/],
    [{ rule: 'm3', groups: 0 }, /--groups 0/],
    [{ rule: 'm3', groups: 4, m3Mode: 'serial', momentum: 0.9 }, /serial M3 needs --momentum 0/],
    [{ rule: 'winsorize', winsor: 16, batchSize: 32 }, /--winsor 16 .* batch of 32 .*use 0\.\.15/],
    [{ rule: 'winsorize', winsor: -1 }, /--winsor -1 .*use 0\.\.15/],
    [{ rule: 'winsorize', winsor: 40, batchSize: 256 }, /--winsor 40 .*use 0\.\.32/],
  ];
  for (const [patch, re] of cases) {
    let err: unknown = null;
    try { validateRuleOptions({ ...base, ...patch }); } catch (e) { err = e; }
    if (!(err instanceof RuleError)) throw new Error(`${JSON.stringify(patch)}: expected a RuleError, got ${err}`);
    if (err.message.includes('\n') || !re.test(err.message)) throw new Error(`${JSON.stringify(patch)}: message "${err.message}" does not match ${re}`);
  }
  validateRuleOptions({ ...base, rule: 'winsorize', winsor: 15 });
  validateRuleOptions({ ...base, rule: 'm3', groups: 4 });
  if (ruleWarnings({ ...base, rule: 'rm3', momentum: 0.9 }).length !== 1) throw new Error('momentum with rm3 should warn');
  if (ruleWarnings({ ...base, rule: 'sgd', momentum: 0.9 }).length !== 0) throw new Error('momentum with sgd should not warn');
  for (const word of ['ra3', 'rm3', 'm3', 'winsorize', 'one-pass', 'serial', 'before', 'after', 'summed', 'consecutive']) {
    if (!RULE_HELP.includes(word)) throw new Error(`RULE_HELP does not mention ${word}`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Training

test('each rule trains an MLP on 2000 MNIST examples: the training loss goes down', async () => {
  const gpu = await getGpu();
  const ds = await loadDataset({ dataset: 'mnist' });
  const train = subset(ds.train, 2000);
  const B = 60;
  const runs: [string, RuleOptions, number][] = [
    ['sgd', { rule: 'sgd', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: B, momentum: 0.9 }, 0.05],
    ['ra3', { rule: 'ra3', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: B, momentum: 0 }, 0.1],
    ['rm3', { rule: 'rm3', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: B, momentum: 0 }, 0.1],
    ['m3 one-pass', { rule: 'm3', groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize: B, momentum: 0 }, 0.1],
    ['m3 serial', { rule: 'm3', groups: 3, winsor: 0, m3Mode: 'serial', batchSize: B, momentum: 0 }, 0.1],
    ['winsorize s=3', { rule: 'winsorize', groups: 3, winsor: 3, m3Mode: 'one-pass', batchSize: B, momentum: 0 }, 0.1],
  ];
  for (const [name, o, lr] of runs) {
    const model = new Mlp([1, 28, 28], 10, [64], new Rng(1));
    const tb = trainerBatchSize(o);
    const t = new Trainer(gpu, model, { batchSize: tb, sgd: { lr, momentum: o.momentum, weightDecay: 1e-4 }, transform: createRule(o), evalBatchSize: 1000 });
    const before = await t.evaluate(train);
    const it = new BatchIterator(train, tb, new Rng(2));
    let step = 0;
    for (let epoch = 0; epoch < 2; epoch++) for (const b of it.epoch()) t.step(b.images, b.labels, step++, lr);
    const m = await t.takeMetrics();
    const after = await t.evaluate(train);
    if (m.nonFiniteStep !== null) throw new Error(`${name}: non-finite loss at step ${m.nonFiniteStep}`);
    if (!(after.loss < 0.6 * before.loss)) throw new Error(`${name}: loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)} did not go down enough`);
  }
});

test.run();

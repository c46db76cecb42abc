import { test } from 'uvu';
import { Graph } from '../engine/graph.js';
import { Program } from '../engine/program.js';
import { gradients } from '../engine/autograd.js';
import { getGpu } from '../engine/context.js';
import { dropout, DropoutState } from '../engine/ops/dropout.js';
import { mul } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { Rng } from '../engine/random.js';
import { randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';

/** A compiled dropout forward and backward on x [n]; `run` returns (y, dx) for an input and upstream gradient. */
async function dropoutProgram(n: number, p: number, seed: number, state?: DropoutState) {
  const gpu = await getGpu();
  const g = new Graph();
  const x = g.input('x', [n]);
  const y = dropout(x, p, seed, state);
  const w = g.input('w', [n]);
  const dx = gradients(sum(mul(y, w)), [x]).get(x)!;
  const prog = new Program(gpu, g, [y, dx]);
  return async (X: Float32Array, W: Float32Array) => {
    prog.write(x, X);
    prog.write(w, W);
    prog.run();
    return { y: (await prog.read(y)) as Float32Array, dx: (await prog.read(dx)) as Float32Array };
  };
}

const kept = (y: Float32Array) => y.map((v) => (v !== 0 ? 1 : 0));

test('dropout scales kept values by 1/(1-p), zeroes the rest, and backward applies the same mask', async () => {
  const rng = new Rng(31);
  for (const [n, p] of [[1, 0.5], [1001, 0.5], [4097, 0.1], [999, 0.9]]) {
    // Inputs are bounded away from 0 so that a zero output always means a dropped element.
    const X = Float32Array.from(randn(rng, n), (v) => (v >= 0 ? 1 + v : v - 1));
    const W = Float32Array.from(randn(rng, n), (v) => (v >= 0 ? 1 + v : v - 1));
    const run = await dropoutProgram(n, p, 1234);
    const { y, dx } = await run(X, W);
    const mask = kept(y);
    // The mask of the backward pass must be the forward pass's: dx = w * mask / (1 - p) exactly.
    const scale = 1 / (1 - p);
    assertClose(`dropout forward n=${n} p=${p}`, y, X.map((v, i) => mask[i] * v * scale), 1e-7, 1e-6);
    assertClose(`dropout backward n=${n} p=${p}`, dx, W.map((v, i) => mask[i] * v * scale), 1e-7, 1e-6);
    // And the finite differences of the float64 reference with that mask agree (the map is linear: tight).
    const f = (xs: Float64Array[]) => xs[0].map((v, i) => mask[i] * v * scale);
    assertGradClose(`dropout FD n=${n} p=${p}`, dx, finiteDiff(f, [f64(X)], 0, W, 64), 1e-6, 1e-6);
    if (n > 100) {
      // The kept fraction is binomial: within 5 standard deviations of 1 - p.
      const frac = mask.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(p * (1 - p) / n);
      if (Math.abs(frac - (1 - p)) > 5 * sd) throw new Error(`kept fraction ${frac} for p = ${p}`);
    }
  }
});

test('dropout masks: the same seed repeats the sequence, another seed or the next step differs', async () => {
  const n = 2000;
  const X = new Float32Array(n).fill(1), W = new Float32Array(n).fill(1);
  const a = await dropoutProgram(n, 0.5, 7), b = await dropoutProgram(n, 0.5, 7), c = await dropoutProgram(n, 0.5, 8);
  const a1 = kept((await a(X, W)).y), a2 = kept((await a(X, W)).y);
  const b1 = kept((await b(X, W)).y), b2 = kept((await b(X, W)).y);
  const c1 = kept((await c(X, W)).y);
  const differ = (u: Float32Array, v: Float32Array) => u.reduce((s, _, i) => s + (u[i] !== v[i] ? 1 : 0), 0);
  if (differ(a1, b1) !== 0 || differ(a2, b2) !== 0) throw new Error('the same seed gave different masks');
  // Independent masks with p = 0.5 disagree on about half the elements.
  for (const [name, d] of [['next step', differ(a1, a2)], ['other seed', differ(a1, c1)]] as const) {
    if (d < 0.4 * n || d > 0.6 * n) throw new Error(`${name}: masks differ in ${d} of ${n} elements, expected about ${n / 2}`);
  }
});

test('a dropout layer\'s state carries the step across programs', async () => {
  const n = 500;
  const X = new Float32Array(n).fill(1), W = new Float32Array(n).fill(1);
  const state = new DropoutState();
  const first = kept((await (await dropoutProgram(n, 0.5, 3, state))(X, W)).y);
  const second = kept((await (await dropoutProgram(n, 0.5, 3, state))(X, W)).y);
  const fresh = kept((await (await dropoutProgram(n, 0.5, 3))(X, W)).y);
  if (first.some((v, i) => v !== fresh[i])) throw new Error('a fresh state did not start the sequence from its first mask');
  if (first.every((v, i) => v === second[i])) throw new Error('a rebuilt program repeated the first mask');
});

test('dropout is the identity in eval mode and with p = 0; p = 1 drops everything; bad p is rejected', async () => {
  const g = new Graph();
  const x = g.input('x', [5]);
  if (dropout(x, 0, 1) !== x) throw new Error('p = 0 should return its input');
  g.mode = 'eval';
  if (dropout(x, 0.5, 1) !== x) throw new Error('eval mode should return its input');
  const run = await dropoutProgram(7, 1, 5);
  const { y, dx } = await run(new Float32Array(7).fill(3), new Float32Array(7).fill(2));
  if (y.some((v) => v !== 0) || dx.some((v) => v !== 0)) throw new Error('p = 1 should zero output and gradient');
  try { dropout(g.input('z', [3]), 1.5, 1); } catch (e) {
    if (!(e as Error).message.includes('probability 1.5 is outside [0, 1]')) throw e;
    return;
  }
  throw new Error('p = 1.5 was accepted');
});

test.run();

import { test } from 'uvu';
import { Graph } from '../engine/graph.js';
import { concat } from '../engine/ops/concat.js';
import { Rng } from '../engine/random.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';

/** Float64 concatenation of arrays shaped `shapes` along `axis`. */
function refConcat(xs: Float64Array[], shapes: number[][], axis: number): Float64Array {
  const outer = shapes[0].slice(0, axis).reduce((a, b) => a * b, 1);
  const inners = shapes.map((s) => s.slice(axis).reduce((a, b) => a * b, 1));
  const total = inners.reduce((a, b) => a + b, 0);
  const out = new Float64Array(outer * total);
  let offset = 0;
  xs.forEach((x, k) => {
    for (let o = 0; o < outer; o++) for (let j = 0; j < inners[k]; j++) out[o * total + offset + j] = x[o * inners[k] + j];
    offset += inners[k];
  });
  return out;
}

test('concat along channels (and other axes) forward, and its split backward', async () => {
  const rng = new Rng(41);
  const cases: [number[][], number][] = [
    [[[3, 5, 7, 9], [3, 2, 7, 9], [3, 1, 7, 9]], 1],
    [[[1, 1, 1, 1], [1, 3, 1, 1]], 1],
    [[[2, 64, 5, 5], [2, 32, 5, 5], [2, 96, 5, 5], [2, 33, 5, 5]], 1],
    [[[4, 3], [1, 3], [2, 3]], 0],
    [[[2, 3, 5, 1], [2, 3, 5, 6]], 3],
  ];
  for (const [shapes, axis] of cases) {
    const data = shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
    const { out, grads, weights } = await runGraph(shapes.map((shape, i) => ({ shape, data: data[i] })), (_g, xs) => concat(xs, axis));
    const f = (xs: Float64Array[]) => refConcat(xs, shapes, axis);
    const xs = data.map(f64);
    // A copy is exact; the gradient is a copy of the upstream weights, so FD (float64) agrees to rounding.
    assertClose(`concat ${JSON.stringify(shapes)} axis ${axis}`, out, f(xs), 0, 1e-7);
    xs.forEach((_, i) => assertGradClose(`concat grad ${i}`, grads[i], finiteDiff(f, xs, i, weights), 1e-6, 1e-6));
  }
});

test('concat rejects mismatched shapes with a one-line error', () => {
  const g = new Graph();
  try {
    concat([g.input('a', [2, 3, 5, 5]), g.input('b', [2, 3, 4, 5])]);
  } catch (e) {
    if (!(e as Error).message.startsWith('concat: input [2,3,4,5] does not match [2,3,5,5] outside axis 1')) throw e;
    return;
  }
  throw new Error('mismatched shapes were accepted');
});

test.run();

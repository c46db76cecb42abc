import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph, Node } from '../engine/graph.js';
import { concat, PIECES_PER_DISPATCH } from '../engine/ops/concat.js';
import { Rng } from '../engine/random.js';
import { getGpu } from '../engine/context.js';
import { runGraph, randn, assertClose, assertGradClose, finiteDiff, f64 } from './helpers/check.js';
import { withPlans } from './helpers/plans.js';

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

/** The pieces of y, a concatenation of arrays shaped `shapes` along `axis`, in float64 (the gradient of a concatenation). */
function refSplit(y: ArrayLike<number>, shapes: number[][], axis: number): Float64Array[] {
  const outer = shapes[0].slice(0, axis).reduce((a, b) => a * b, 1);
  const inners = shapes.map((s) => s.slice(axis).reduce((a, b) => a * b, 1));
  const total = inners.reduce((a, b) => a + b, 0);
  let offset = 0;
  return inners.map((inner) => {
    const piece = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) piece[o * inner + j] = y[o * total + offset + j];
    offset += inner;
    return piece;
  });
}

/** Shapes [N, c, H, W] for each channel count in `channels`. */
const pieces = (N: number, channels: number[], H: number, W: number) => channels.map((c) => [N, c, H, W]);

test('concat along channels (and other axes) forward, and its split backward, on both plan families', async () => {
  const rng = new Rng(41);
  const cases: [number[][], number][] = [
    [[[3, 5, 7, 9], [3, 2, 7, 9], [3, 1, 7, 9]], 1],
    [[[1, 1, 1, 1], [1, 3, 1, 1]], 1],
    [[[2, 64, 5, 5], [2, 32, 5, 5], [2, 96, 5, 5], [2, 33, 5, 5]], 1],
    [[[4, 3], [1, 3], [2, 3]], 0],
    [[[2, 3, 5, 1], [2, 3, 5, 6]], 3],
    // 5 pieces with odd channel counts (one dispatch), an empty piece among them, and more pieces than one dispatch binds.
    [pieces(3, [5, 1, 7, 3, 9], 3, 5), 1],
    [pieces(2, [3, 0, 5, 1], 3, 3), 1],
    [pieces(3, [1, 3, 5, 7, 9, 11, 13, 2, 4], 3, 1), 1],
    [pieces(2, Array.from({ length: 16 }, (_, i) => 1 + (i * 7) % 5), 5, 3), 1],
    [Array.from({ length: 15 }, (_, i) => [3, 5, 1 + (i % 4)]), 2],
    // Rows beyond one per workgroup (each loops over several), and a piece wider than one workgroup per column group covers.
    [[[2001, 3], [2001, 5], [2001, 1]], 1],
    [[[1, 3], [1, 64 * 8192 + 77]], 1],
  ];
  for (const family of ['gpu', 'lavapipe']) {
    for (const [shapes, axis] of cases) {
      await withPlans(family, async () => {
        const data = shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
        const { out, grads, weights, program } = await runGraph(shapes.map((shape, i) => ({ shape, data: data[i] })), (_g, xs) => concat(xs, axis));
        const name = `${family} concat of ${shapes.length} ${JSON.stringify(shapes[0])}.. axis ${axis}`;
        const copies = program.dispatches.filter((d) => d.label.startsWith('concat ')).length;
        assert.is(copies, Math.ceil(shapes.length / PIECES_PER_DISPATCH), `${name}: dispatches of the forward copy`);
        const f = (xs: Float64Array[]) => refConcat(xs, shapes, axis);
        const xs = data.map(f64);
        // A copy is exact; the gradient is a copy of the upstream weights, so FD (float64) agrees to rounding.
        assertClose(name, out, f(xs), 0, 1e-7);
        xs.forEach((_, i) => assertGradClose(`${name} grad ${i}`, grads[i], finiteDiff(f, xs, i, weights), 1e-6, 1e-6));
        // Finite differences sample a few values; every value of a gradient is the upstream weight at its place.
        refSplit(weights, shapes, axis).forEach((want, i) => assertClose(`${name} every value of grad ${i}`, grads[i], want, 0, 1e-7));
      });
    }
  }
});

test('concat of one input is that input, with no dispatch', async () => {
  const data = randn(new Rng(42), 3 * 5 * 7);
  let input: Node | null = null;
  const { out, program } = await runGraph([{ shape: [3, 5, 7], data }], (_g, [x]) => {
    input = x;
    return concat([x], 1);
  }, { grads: false });
  assert.ok(program.order.includes(input!) && !program.order.some((n) => n.op?.type === 'concat'), 'no concat node');
  assert.is(program.dispatches.length, 0, 'no dispatch');
  assertClose('concat of one', out, f64(data), 0, 1e-7);
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

test.before(async () => { await getGpu(); });
test.run();

import { Graph, Node } from '../../engine/graph.js';
import type { Plans } from '../../engine/plans.js';
import { Program } from '../../engine/program.js';
import { gradients } from '../../engine/autograd.js';
import { mul } from '../../engine/ops/elementwise.js';
import { sum } from '../../engine/ops/reduce.js';
import { getGpu } from '../../engine/context.js';
import { Rng } from '../../engine/random.js';

export type Arr = Float64Array | number[];

export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Max |a - b| / (atol + rtol * |b|) over all elements; <= 1 passes. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): { worst: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= worst)) { worst = r; at = i; }
  }
  return { worst, at };
}

export function assertClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number) {
  const { worst, at } = closeness(got, want, atol, rtol);
  if (!(worst <= 1)) throw new Error(`${name}: element ${at} is ${got[at]}, expected ${want[at]} (atol ${atol}, rtol ${rtol}, ratio ${worst.toFixed(2)})`);
}

/**
 * Builds `build(graph, inputs)` on the GPU, runs the forward and the backward of sum(out * w) for a
 * random weighting w, and returns the output and the gradient w.r.t. each float input. The graph is built for the
 * current plans unless `buildPlans` names others (a graph built for one family, compiled on the other).
 */
export async function runGraph(
  inputs: { shape: number[]; data: Float32Array | Int32Array; dtype?: 'f32' | 'i32'; param?: boolean }[],
  build: (g: Graph, xs: Node[]) => Node,
  opts: { weights?: Float32Array; groups?: number; grads?: boolean; buildPlans?: Plans } = {},
): Promise<{ out: Float32Array; grads: Float32Array[]; weights: Float32Array; program: Program }> {
  const gpu = await getGpu();
  const g = new Graph();
  g.plans = opts.buildPlans ?? gpu.plans;
  g.gradGroups = opts.groups ?? 1;
  const xs = inputs.map((s, i) => g.input(`x${i}`, s.shape, s.dtype ?? 'f32'));
  const out = build(g, xs);
  const weights = opts.weights ?? randn(new Rng(99), out.size);
  const wantGrads = opts.grads ?? true;
  const floatInputs = xs.filter((x) => x.dtype === 'f32');
  let outputs: Node[] = [out];
  let gradNodes: Node[] = [];
  if (wantGrads) {
    const w = g.input('w', out.shape);
    const loss = sum(mul(out, w));
    const gm = gradients(loss, floatInputs);
    gradNodes = floatInputs.map((x) => gm.get(x)!);
    outputs = [out, ...gradNodes];
    const prog = new Program(gpu, g, outputs);
    prog.write(w, weights);
    xs.forEach((x, i) => prog.write(x, inputs[i].data));
    prog.run();
    const o = (await prog.read(out)) as Float32Array;
    const grads: Float32Array[] = [];
    for (const gn of gradNodes) grads.push((await prog.read(gn)) as Float32Array);
    return { out: o, grads, weights, program: prog };
  }
  const prog = new Program(gpu, g, outputs);
  xs.forEach((x, i) => prog.write(x, inputs[i].data));
  prog.run();
  return { out: (await prog.read(out)) as Float32Array, grads: [], weights, program: prog };
}

/**
 * Central finite differences of sum(f(x) * w) with a float64 reference f, for input `which`, at up to
 * `samples` coordinates (all of them for small inputs). The reference runs in float64, so the step can be
 * small and the check tight. Returns the coordinates checked and the derivative at each.
 */
export function finiteDiff(f: (xs: Float64Array[]) => Float64Array, xs: Float64Array[], which: number, w: ArrayLike<number>, samples = 24, eps = 1e-6): { at: number[]; d: Float64Array } {
  const x = xs[which];
  const at = x.length <= samples ? [...Array(x.length).keys()] : [...new Rng(x.length).permutation(x.length).slice(0, samples)];
  const d = new Float64Array(at.length);
  const dot = (y: Float64Array) => { let s = 0; for (let i = 0; i < y.length; i++) s += y[i] * w[i]; return s; };
  at.forEach((i, j) => {
    const keep = x[i];
    x[i] = keep + eps; const up = dot(f(xs));
    x[i] = keep - eps; const down = dot(f(xs));
    x[i] = keep;
    d[j] = (up - down) / (2 * eps);
  });
  return { at, d };
}

/** Checks a GPU gradient against finiteDiff's sampled derivatives. */
export function assertGradClose(name: string, got: ArrayLike<number>, fd: { at: number[]; d: Float64Array }, atol: number, rtol: number) {
  assertClose(name, fd.at.map((i) => got[i]), fd.d, atol, rtol);
}

/** Asserts that `f` throws an error whose message is one line matching `pattern`. */
export function assertThrowsLine(f: () => unknown, pattern: RegExp): void {
  try { f(); } catch (e: any) {
    if (String(e.message).includes('\n')) throw new Error(`error message is not one line: ${e.message}`);
    if (!pattern.test(e.message)) throw new Error(`error "${e.message}" does not match ${pattern}`);
    return;
  }
  throw new Error(`expected an error matching ${pattern}`);
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);

import { Node, OpDef, CompileContext } from '../graph.js';
import { words, type Dispatch } from '../gpu.js';

/** Concatenation along `axis` (default 1, the channels of [N, C, H, W]); the gradient splits dy back into slices. */
export function concat(xs: Node[], axis = 1): Node {
  if (xs.length === 0) throw new Error('concat: no inputs');
  const first = xs[0];
  const rank = first.shape.length;
  if (axis < 0 || axis >= rank) throw new Error(`concat: axis ${axis} is outside a rank-${rank} input [${first.shape}]`);
  for (const x of xs) {
    const same = x.shape.length === rank && x.shape.every((v, i) => i === axis || v === first.shape[i]);
    if (!same) throw new Error(`concat: input [${x.shape}] does not match [${first.shape}] outside axis ${axis}`);
    if (x.dtype !== 'f32') throw new Error(`concat: input ${x.name} is ${x.dtype}; only f32 is supported`);
  }
  const shape = [...first.shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
  if (xs.length === 1) return first;
  const after = first.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const inners = xs.map((x) => x.shape[axis] * after);
  const offsets = inners.map((_, i) => inners.slice(0, i).reduce((a, b) => a + b, 0));
  return first.graph.op(ConcatOp, xs, shape, { axis, inners, offsets, total: shape[axis] * after });
}

/** Columns offset .. offset + inner of x viewed as [outer, total], shaped `shape`. */
function slice(x: Node, shape: number[], inner: number, offset: number, total: number): Node {
  return x.graph.op(SliceOp, [x], shape, { inner, offset, total });
}

/** Inputs one `place` dispatch copies (X0..X6 in shaders/concat.wgsl); a concatenation of more takes several dispatches. */
export const PIECES_PER_DISPATCH = 7;

const WORKGROUP = 64;
/** Workgroups along x per piece at most (a wider piece's workgroups loop), so that 7 pieces stay within 65,535. */
const MAX_PIECE_GROUPS = 8192;
/**
 * Workgroups along y, each looping over every so many rows of the [outer, total] view. A long loop per invocation
 * measures fastest on lavapipe, a GPU wants 256K invocations or more: row groups are added until the columns' groups
 * times the row groups make MIN_GROUPS workgroups, as long as each invocation still copies MIN_ROWS rows.
 */
const MIN_GROUPS = 4096;
const MIN_ROWS = 8;

/**
 * A dispatch of shaders/concat.wgsl copying between `to` and `from` (X0.., the bindings left unused get a placeholder):
 * `pieces` are the columns copied in the [outer, total] view of the concatenation.
 */
function copy(c: CompileContext, entry: 'place' | 'slice', from: GPUBuffer[], to: GPUBuffer, pieces: { inner: number; offset: number }[],
  outer: number, total: number, label: string, mask = false): Dispatch {
  const params: number[] = [pieces.length, total, outer, 0];
  let groups = 0;
  for (const { inner, offset } of pieces) {
    const g = Math.min(Math.ceil(inner / WORKGROUP), MAX_PIECE_GROUPS);
    params.push(groups, g, inner, offset);
    groups += g;
  }
  while (params.length < 4 + 4 * PIECES_PER_DISPATCH) params.push(0); // the shader's Params holds 7 pieces
  const u = c.uniform(words(params), label);
  const xs = Array.from({ length: PIECES_PER_DISPATCH }, (_, k) => from[k] ?? c.gpu.unused());
  const rowGroups = Math.max(1, Math.min(Math.ceil(MIN_GROUPS / Math.max(groups, 1)), Math.ceil(outer / MIN_ROWS), 65535));
  const grid = [groups, Math.min(outer, rowGroups), 1];
  return c.gpu.dispatch(c.gpu.kernel('concat', entry, mask ? { MASK: true } : {}), [u, to, ...xs], grid, label);
}

export const ConcatOp: OpDef = {
  type: 'concat',
  compile(n, c) {
    const { inners, offsets, total } = n.attrs as { inners: number[]; offsets: number[]; total: number };
    const outer = total ? n.size / total : 0;
    const dispatches: Dispatch[] = [];
    for (let first = 0; first < n.inputs.length; first += PIECES_PER_DISPATCH) {
      const xs = n.inputs.slice(first, first + PIECES_PER_DISPATCH);
      const pieces = xs.map((_, k) => ({ inner: inners[first + k], offset: offsets[first + k] }));
      const label = `concat ${first}..${first + xs.length - 1} of ${n.inputs.length}`;
      dispatches.push(copy(c, 'place', xs.map((x) => c.buf(x)), c.buf(n), pieces, outer, total, label));
    }
    return dispatches;
  },
  backward(n, dy) {
    const { inners, offsets, total } = n.attrs;
    return n.inputs.map((x, i) => slice(dy, x.shape, inners[i], offsets[i], total));
  },
};

/** A gradient slice takes the gradient of a ReLU that fed the concatenation into its copy (engine/fusion.ts). */
export const SliceOp: OpDef = {
  type: 'slice',
  accepts: () => ({ mask: true }),
  compile(n, c, epilogue) {
    const { inner, offset, total } = n.attrs;
    const mask = epilogue?.mask ? c.buf(epilogue.mask) : null;
    const from = mask ? [c.buf(n.inputs[0]), mask] : [c.buf(n.inputs[0])];
    const outer = total ? n.inputs[0].size / total : 0;
    return [copy(c, 'slice', from, c.buf(n), [{ inner, offset }], outer, total, mask ? 'slice+mask' : 'slice', !!mask)];
  },
};

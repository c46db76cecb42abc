import { Node, OpDef, CompileContext } from '../graph.js';
import { words, type Dispatch } from '../gpu.js';
import { grid1d } from './grid.js';

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

/**
 * A dispatch of shaders/concat.wgsl over the `span` columns from `base` of `to` viewed as [outer, total], with the
 * pieces' end columns (from base); `from` fills X0.., and the bindings the entry leaves unused get a placeholder.
 */
function copy(c: CompileContext, entry: 'place' | 'slice', from: GPUBuffer[], to: GPUBuffer, outer: number, span: number, total: number, base: number,
  ends: number[], label: string, mask = false): Dispatch {
  const { grid, rowStride } = grid1d(outer * span);
  const endWords = Array.from({ length: 8 }, (_, k) => ends[k] ?? 0);
  const u = c.uniform(words([outer * span, rowStride, total, base, span, ends.length, 0, 0, ...endWords]), label);
  const xs = Array.from({ length: PIECES_PER_DISPATCH }, (_, k) => from[k] ?? c.gpu.unused());
  return c.gpu.dispatch(c.gpu.kernel('concat', entry, mask ? { MASK: true } : {}), [u, to, ...xs], grid, label);
}

export const ConcatOp: OpDef = {
  type: 'concat',
  // One dispatch per PIECES_PER_DISPATCH inputs: each writes its pieces' adjacent columns, so that the groups do not overlap.
  compile(n, c) {
    const { inners, offsets, total } = n.attrs as { inners: number[]; offsets: number[]; total: number };
    const outer = total ? n.size / total : 0;
    const dispatches: Dispatch[] = [];
    for (let first = 0; first < n.inputs.length; first += PIECES_PER_DISPATCH) {
      const pieces = n.inputs.slice(first, first + PIECES_PER_DISPATCH);
      const base = offsets[first];
      const ends = pieces.map((_, k) => offsets[first + k] + inners[first + k] - base);
      const label = `concat ${first}..${first + pieces.length - 1} of ${n.inputs.length}`;
      dispatches.push(copy(c, 'place', pieces.map((x) => c.buf(x)), c.buf(n), outer, ends[ends.length - 1], total, base, ends, label));
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
    return [copy(c, 'slice', from, c.buf(n), total ? n.inputs[0].size / total : 0, inner, total, offset, [inner], mask ? 'slice+mask' : 'slice', !!mask)];
  },
};

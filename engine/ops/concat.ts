import { Node, OpDef, CompileContext } from '../graph.js';
import { words } from '../gpu.js';
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

function copy(c: CompileContext, entry: string, from: GPUBuffer, to: GPUBuffer, n: number, inner: number, total: number, offset: number, label: string,
  mask: GPUBuffer | null = null) {
  const { grid, rowStride } = grid1d(n);
  const u = c.uniform(words([n, rowStride, inner, total, offset, 0, 0, 0]), label);
  // Without a mask, the source stands in for it (bound read-only twice).
  return c.gpu.dispatch(c.gpu.kernel('concat', entry, mask ? { MASK: true } : {}), [u, from, to, mask ?? from], grid, label);
}

export const ConcatOp: OpDef = {
  type: 'concat',
  compile(n, c) {
    const { inners, offsets, total } = n.attrs;
    return n.inputs.map((x, i) => copy(c, 'place', c.buf(x), c.buf(n), x.size, inners[i], total, offsets[i], `concat ${i}`));
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
    return [copy(c, 'slice', c.buf(n.inputs[0]), c.buf(n), n.size, inner, total, offset, mask ? 'slice+mask' : 'slice', mask)];
  },
};

import { Node, OpDef } from '../graph.js';
import { f32, words } from '../gpu.js';
import { grid1d } from './grid.js';

/** x viewed as [G, R, C] summed over R, times alpha: shape [G, C] (or [C] when G = 1). */
export function sumMiddle(x: Node, G: number, R: number, C: number, alpha = 1): Node {
  if (G * R * C !== x.size) throw new Error(`sum: [${x.shape}] is not [${G}, ${R}, ${C}]`);
  return x.graph.op(SumMiddleOp, [x], G === 1 ? [C] : [G, C], { G, R, C, alpha });
}

/** Sum over the leading (batch) axis; with graph.gradGroups > 1 this is not grouped (see biasGrad). */
export function sumRows(x: Node): Node {
  const R = x.shape[0];
  return sumMiddle(x, 1, R, x.size / R);
}

/** Sum of all values, shape [1]. */
export function sum(x: Node, alpha = 1): Node { return x.graph.op(SumAllOp, [x], [1], { alpha }); }
export function mean(x: Node): Node { return sum(x, 1 / x.size); }

/** Broadcast [G, C] to [G, R, C], times alpha (the gradient of sumMiddle). */
function broadcastMiddle(x: Node, G: number, R: number, C: number, alpha: number, shape: number[]): Node {
  return x.graph.op(BroadcastMiddleOp, [x], shape, { G, R, C, alpha });
}

export const SumMiddleOp: OpDef = {
  type: 'sum_middle',
  compile(n, c) {
    const { G, R, C, alpha } = n.attrs;
    const u = c.uniform(words([G, R, C, f32(alpha)]));
    return [c.gpu.dispatch(c.gpu.kernel('reduce', 'sum_middle'), [u, c.buf(n.inputs[0]), c.buf(n)], [Math.ceil(C / 64), G, 1])];
  },
  backward(n, dy) {
    const { G, R, C, alpha } = n.attrs;
    return [broadcastMiddle(dy, G, R, C, alpha, n.inputs[0].shape)];
  },
};

export const BroadcastMiddleOp: OpDef = {
  type: 'broadcast_middle',
  compile(n, c) {
    const { G, R, C, alpha } = n.attrs;
    const u = c.uniform(words([G, R, C, f32(alpha)]));
    return [c.gpu.dispatch(c.gpu.kernel('reduce', 'broadcast_middle'), [u, c.buf(n.inputs[0]), c.buf(n)], grid1d(n.size).grid)];
  },
  backward(n, dy) {
    const { G, R, C, alpha } = n.attrs;
    return [sumMiddle(dy, G, R, C, alpha)];
  },
};

export const SumAllOp: OpDef = {
  type: 'sum_all',
  compile(n, c) {
    const u = c.uniform(words([1, n.inputs[0].size, 1, f32(n.attrs.alpha)]));
    return [c.gpu.dispatch(c.gpu.kernel('reduce', 'sum_all'), [u, c.buf(n.inputs[0]), c.buf(n)], [1, 1, 1])];
  },
  backward(n, dy) {
    const x = n.inputs[0];
    return [broadcastMiddle(dy, 1, x.size, 1, n.attrs.alpha, x.shape)];
  },
};

import { Node, OpDef, sameShape } from '../graph.js';
import { f32, words } from '../gpu.js';
import { grid1d } from './grid.js';

/** Ops on shaders/elementwise.wgsl: entry point per op, X and Y inputs, one output of X's shape. */
function elementwise(type: string, backward?: OpDef['backward']): OpDef {
  return {
    type,
    compile(node, c) {
      const [x, y] = node.inputs;
      const { grid, rowStride } = grid1d(node.size);
      const u = c.uniform(words([node.size, rowStride, f32(node.attrs.alpha ?? 0), 0]), type);
      const k = c.gpu.kernel('elementwise', type);
      return [c.gpu.dispatch(k, [u, c.buf(x), c.buf(y ?? x), c.buf(node)], grid, `${type} ${node.size}`)];
    },
    backward,
  };
}

function checkSame(op: string, a: Node, b: Node) {
  if (!sameShape(a.shape, b.shape)) throw new Error(`${op}: shapes differ, [${a.shape}] and [${b.shape}]`);
}

export const AddOp = elementwise('add', (_n, dy) => [dy, dy]);
export const MulOp = elementwise('mul', (n, dy) => [mul(dy, n.inputs[1]), mul(dy, n.inputs[0])]);
export const ScaleOp = elementwise('scale', (n, dy) => [scale(dy, n.attrs.alpha)]);
export const ReluOp = elementwise('relu', (n, dy) => [reluBackward(dy, n.inputs[0])]);
export const ReluBackwardOp = elementwise('relu_backward');

export function add(a: Node, b: Node): Node { checkSame('add', a, b); return a.graph.op(AddOp, [a, b], a.shape); }
export function mul(a: Node, b: Node): Node { checkSame('mul', a, b); return a.graph.op(MulOp, [a, b], a.shape); }
export function scale(a: Node, alpha: number): Node { return a.graph.op(ScaleOp, [a], a.shape, { alpha }); }
export function relu(a: Node): Node { return a.graph.op(ReluOp, [a], a.shape); }
/** dy masked where x <= 0. */
export function reluBackward(dy: Node, x: Node): Node { checkSame('relu_backward', dy, x); return dy.graph.op(ReluBackwardOp, [dy, x], dy.shape); }

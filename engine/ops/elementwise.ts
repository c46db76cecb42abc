import { Node, OpDef, sameShape } from '../graph.js';
import { f32, words } from '../gpu.js';
import { grid1d } from './grid.js';

/**
 * Ops on shaders/elementwise.wgsl: entry point per op, X and Y inputs, one output of X's shape. `extra` adds what an op
 * has in a fused pass (engine/fusion.ts); a fused add applies the ReLU (the entry's RELU constant) or a ReLU's gradient
 * mask (MASK, reading the epilogue's mask) before storing.
 */
function elementwise(type: string, backward?: OpDef['backward'], extra: Pick<OpDef, 'accepts' | 'epilogueKind'> = {}): OpDef {
  return {
    type,
    compile(node, c, epilogue) {
      const [x, y] = node.inputs;
      const { grid, rowStride } = grid1d(node.size);
      const u = c.uniform(words([node.size, rowStride, f32(node.attrs.alpha ?? 0), 0]), type);
      const mask = epilogue?.mask ?? null;
      const k = c.gpu.kernel('elementwise', type, epilogue?.relu ? { RELU: true } : mask ? { MASK: true } : {});
      const other = c.buf(y ?? x);
      const label = `${type}${epilogue?.relu ? '+relu' : mask ? '+mask' : ''} ${node.size}`;
      return [c.gpu.dispatch(k, [u, c.buf(x), other, c.buf(node), mask ? c.buf(mask) : other], grid, label)];
    },
    backward,
    ...extra,
  };
}

function checkSame(op: string, a: Node, b: Node) {
  if (!sameShape(a.shape, b.shape)) throw new Error(`${op}: shapes differ, [${a.shape}] and [${b.shape}]`);
}

// An add that sums the gradients reaching a ReLU's output (autograd accumulates them in a chain of adds) takes the
// ReLU's gradient into its store; only the chain's last add has the gradient as its sole user, so only it folds.
export const AddOp = elementwise('add', (_n, dy) => [dy, dy], { accepts: () => ({ bias: false, relu: true, mask: true }) });
export const MulOp = elementwise('mul', (n, dy) => [mul(dy, n.inputs[1]), mul(dy, n.inputs[0])]);
export const ScaleOp = elementwise('scale', (n, dy) => [scale(dy, n.attrs.alpha)]);
// The gradient's mask reads the ReLU's output (positive exactly where the input is), which stays when the ReLU is
// folded into the pass producing its input.
export const ReluOp = elementwise('relu', (n, dy) => [reluBackward(dy, n)], { epilogueKind: 'relu' });
export const ReluBackwardOp = elementwise('relu_backward', undefined, { epilogueKind: 'mask' });

export function add(a: Node, b: Node): Node { checkSame('add', a, b); return a.graph.op(AddOp, [a, b], a.shape); }
export function mul(a: Node, b: Node): Node { checkSame('mul', a, b); return a.graph.op(MulOp, [a, b], a.shape); }
export function scale(a: Node, alpha: number): Node { return a.graph.op(ScaleOp, [a], a.shape, { alpha }); }
export function relu(a: Node): Node { return a.graph.op(ReluOp, [a], a.shape); }
/** dy masked where x <= 0 (x a ReLU's input or its output). */
export function reluBackward(dy: Node, x: Node): Node { checkSame('relu_backward', dy, x); return dy.graph.op(ReluBackwardOp, [dy, x], dy.shape); }

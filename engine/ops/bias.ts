import { Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';
import { grid1d } from './grid.js';
import { sumMiddle } from './reduce.js';

/** x [..., N] + b [N]. The bias gradient sums over rows, per group when the graph reduces in groups. */
export function addBias(x: Node, b: Node): Node {
  const N = x.shape[x.shape.length - 1];
  if (b.shape.length !== 1 || b.shape[0] !== N) throw new Error(`addBias: bias [${b.shape}] does not match last axis of [${x.shape}]`);
  return x.graph.op(BiasOp, [x, b], x.shape, { N });
}

/** Folds into a product's store on the gpu plans (engine/fusion.ts); takes a following ReLU into its own pass. */
export const BiasOp: OpDef = {
  type: 'add_bias',
  epilogueKind: 'bias',
  accepts: () => ({ bias: false, relu: true }),
  compile(n, c, epilogue) {
    const { grid, rowStride } = grid1d(n.size);
    const u = c.uniform(words([n.size, rowStride, n.attrs.N, 0]));
    const k = c.gpu.kernel('bias', 'main', epilogue?.relu ? { RELU: true } : {});
    return [c.gpu.dispatch(k, [u, c.buf(n.inputs[0]), c.buf(n.inputs[1]), c.buf(n)], grid, `bias${epilogue?.relu ? '+relu' : ''} ${n.size}`)];
  },
  backward(n, dy) {
    const N = n.attrs.N;
    const rows = dy.size / N;
    const groups = n.inputs[1].kind === 'param' ? n.graph.gradGroups : 1;
    if (rows % groups !== 0) throw new Error(`${n.inputs[1].name}: ${rows} rows do not split into ${groups} equal groups`);
    if (n.inputs[1].kind === 'param' && dy.shape.length === 2) n.graph.perExample.set(n.inputs[1], { x: null, dy });
    return [dy, sumMiddle(dy, groups, rows / groups, N)];
  },
};

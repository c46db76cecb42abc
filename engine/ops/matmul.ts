import { Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';

export interface MatmulOptions { transA?: boolean; transB?: boolean }

/**
 * op(a) · op(b). Shapes: a [M,K] ([K,M] when transA), b [K,N] ([N,K] when transB); a leading batch
 * axis on both gives a batched product; a batched `a` with a 2D `b` and no transA folds the batch into M.
 * Forward and both gradients run on shaders/matmul.wgsl.
 */
export function matmul(a: Node, b: Node, opts: MatmulOptions = {}): Node {
  const transA = !!opts.transA, transB = !!opts.transB;
  const g = a.graph;
  if (a.shape.length === 3 && b.shape.length === 2 && !transA) {
    const [bt, m, k] = a.shape;
    const y = matmul(g.view(a, [bt * m, k]), b, opts);
    return g.view(y, [bt, m, y.shape[1]]);
  }
  if (a.shape.length !== b.shape.length || a.shape.length < 2 || a.shape.length > 3) {
    throw new Error(`matmul: unsupported ranks [${a.shape}] x [${b.shape}]`);
  }
  const batched = a.shape.length === 3;
  if (batched && a.shape[0] !== b.shape[0]) throw new Error(`matmul: batch sizes differ, [${a.shape}] x [${b.shape}]`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`matmul: inner sizes differ, [${a.shape}]${transA ? 'ᵀ' : ''} x [${b.shape}]${transB ? 'ᵀ' : ''}`);
  const shape = batched ? [a.shape[0], M, N] : [M, N];
  return g.op(MatmulOp, [a, b], shape, { transA, transB, M, N, K, batch: batched ? a.shape[0] : 1 });
}

export const MatmulOp: OpDef = {
  type: 'matmul',
  compile(node, c) {
    const { transA, transB, M, N, K, batch } = node.attrs;
    const [a, b] = node.inputs;
    const kernel = c.gpu.kernel('matmul', 'main', { TRANS_A: transA, TRANS_B: transB });
    const u = c.uniform(words([M, N, K, M * K, K * N, M * N, 0, 0]), 'matmul');
    return [c.gpu.dispatch(kernel, [u, c.buf(a), c.buf(b), c.buf(node)], [Math.ceil(N / 32), Math.ceil(M / 32), batch], `matmul ${M}x${N}x${K}`)];
  },
  backward(node, dy) {
    const [a, b] = node.inputs;
    const { transA, transB } = node.attrs;
    const groups = node.graph.gradGroups;
    const da = groups > 1 && a.kind === 'param' ? groupedGradError(a) : gradA(a, b, dy, transA, transB);
    const db = groups > 1 && b.kind === 'param' ? groupedGradB(a, b, dy, transA, transB, groups) : gradB(a, b, dy, transA, transB);
    return [da, db];
  },
};

function gradA(a: Node, b: Node, dy: Node, transA: boolean, transB: boolean): Node {
  if (!transA) return transB ? matmul(dy, b) : matmul(dy, b, { transB: true });
  return transB ? matmul(b, dy, { transA: true, transB: true }) : matmul(b, dy, { transB: true });
}

function gradB(a: Node, b: Node, dy: Node, transA: boolean, transB: boolean): Node {
  if (!transB) return transA ? matmul(a, dy) : matmul(a, dy, { transA: true });
  return transA ? matmul(dy, a, { transA: true, transB: true }) : matmul(dy, a, { transA: true });
}

/** dB reduced separately over each of `groups` equal slices of the batch rows: shape [groups, ...b.shape]. */
function groupedGradB(a: Node, b: Node, dy: Node, transA: boolean, transB: boolean, groups: number): Node {
  if (transA || a.shape.length !== 2) groupedGradError(b);
  const g = a.graph;
  const [M, K] = a.shape;
  const N = dy.shape[1];
  if (M % groups !== 0) throw new Error(`${b.name}: batch of ${M} rows does not split into ${groups} equal groups`);
  const ag = g.view(a, [groups, M / groups, K]);
  const dyg = g.view(dy, [groups, M / groups, N]);
  return transB ? matmul(dyg, ag, { transA: true }) : matmul(ag, dyg, { transA: true });
}

function groupedGradError(p: Node): never {
  throw new Error(`${p.name}: grouped gradients need the batch on the rows of the other operand`);
}

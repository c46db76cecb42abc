import { CompileContext, Node, OpDef } from '../graph.js';
import { Dispatch, words } from '../gpu.js';
import { dispatchTiledMatmul } from './matmul_tiled.js';

export interface MatmulOptions { transA?: boolean; transB?: boolean }

/**
 * op(a) · op(b). Shapes: a [M,K] ([K,M] when transA), b [K,N] ([N,K] when transB); a leading batch
 * axis on both gives a batched product; a batched `a` with a 2D `b` and no transA folds the batch into M.
 * Forward and both gradients run on shaders/matmul.wgsl, or on shaders/matmul_tiled.wgsl with the gpu plans.
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
  /** On the gpu plans a single product stores with a bias over its columns and a ReLU, or a ReLU's mask, applied (engine/fusion.ts). */
  accepts(node, plans) {
    const ok = plans.matmul === 'gpu' && node.attrs.batch === 1 && !node.attrs.accumulate;
    return { bias: ok, relu: ok, mask: ok };
  },
  compile(node, c, epilogue) {
    const { transA, transB, M, N, K, batch } = node.attrs;
    const [a, b] = node.inputs;
    const strides = batch > 1 ? [M * K, K * N] : [0, 0];
    const product: Product = { M, N, K, transA, transB, batch, strideA: strides[0], strideB: strides[1], accumulate: !!node.attrs.accumulate };
    if (epilogue) {
      product.bias = epilogue.bias ? c.buf(epilogue.bias) : null;
      product.relu = epilogue.relu;
      product.mask = epilogue.mask ? c.buf(epilogue.mask) : null;
    }
    const fused = `${epilogue?.bias ? '+bias' : ''}${epilogue?.relu ? '+relu' : ''}${epilogue?.mask ? '+mask' : ''}`;
    return dispatchMatmul(c, product, c.buf(a), c.buf(b), c.buf(node), `matmul${fused} ${M}x${N}x${K}`);
  },
  backward(node, dy) {
    const [a, b] = node.inputs;
    const { transA, transB } = node.attrs;
    const groups = node.graph.gradGroups;
    const da = groups > 1 && a.kind === 'param' ? groupedGradError(a) : gradA(a, b, dy, transA, transB);
    const db = groups > 1 && b.kind === 'param' ? groupedGradB(a, b, dy, transA, transB, groups) : gradB(a, b, dy, transA, transB);
    if (b.kind === 'param' && transB && !transA && a.shape.length === 2) node.graph.perExample.set(b, { x: a, dy });
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

/**
 * C[z] = op(A[z]) · op(B[z]) for z < batch on shaders/matmul.wgsl, with C[z] M×N. strideA / strideB / strideC are the
 * operands' batch strides in elements (strideC defaults to M·N): 0 broadcasts one matrix over the batch. With `cols`,
 * B's and C's N columns are instead N / cols batch entries of `cols` columns side by side (entry e's at e · strideB
 * and e · strideC; batch 1). For ops other than matmul that are products underneath (1x1 convolutions).
 */
export interface Product {
  M: number; N: number; K: number; transA: boolean; transB: boolean;
  batch: number; strideA: number; strideB: number;
  /** Add to C instead of overwriting it. */
  accumulate?: boolean;
  strideC?: number;
  /** Columns per batch entry when the batch is folded into N. */
  cols?: number;
  /** Epilogue (gpu plans only, neither folded nor accumulating): C = max(op(A)·op(B) + bias[column], 0) with relu. */
  bias?: GPUBuffer | null;
  relu?: boolean;
  /** Epilogue (gpu plans, plain product): C = 0 where mask (C's shape) is not positive, a ReLU's gradient. */
  mask?: GPUBuffer | null;
}

export function dispatchMatmul(c: CompileContext, p: Product, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, label: string): Dispatch[] {
  if (c.gpu.plans.matmul === 'gpu') return dispatchTiledMatmul(c, p, a, b, out, label);
  if (p.bias || p.relu || p.mask) throw new Error(`${label}: the lavapipe matmul kernel has no epilogue`);
  const { M, N, K, batch } = p;
  const cols = p.cols ?? N;
  const folded = cols !== N;
  if (folded && (N % cols !== 0 || batch !== 1)) throw new Error(`matmul: ${N} columns do not fold into entries of ${cols} with batch ${batch}`);
  // The kernel folds columns only on the lanes, so a folded product is never run transposed.
  const pl = planMatmul(M, N, K, p.transA, p.transB, batch, !folded);
  const [strideFirst, strideSecond] = pl.swap ? [p.strideB, p.strideA] : [p.strideA, p.strideB];
  // vec4 loads of B need every batch entry of B, and every row of it, to start on a vec4.
  if (strideSecond % 4 !== 0 || (folded && cols % 4 !== 0)) pl.vec = false;
  const kernel = c.gpu.kernel('matmul', 'main', {
    TRANS_A: pl.transA, TRANS_B: pl.transB, TRANS_C: pl.swap, VEC_B: pl.vec, ROWS_X: pl.rowsX, WG: pl.WG, TM: pl.TM, TN: pl.TN,
  });
  const u = c.uniform(words([pl.M, pl.N, K, strideFirst, strideSecond, p.strideC ?? M * N, p.accumulate ? 1 : 0, folded ? cols : pl.N, 0, 0, 0, 0]), 'matmul');
  const [first, second] = pl.swap ? [b, a] : [a, b];
  const rowBlocks = Math.ceil(pl.M / pl.TM), colBlocks = Math.ceil(pl.N / (4 * pl.TN * pl.WG));
  const grid = pl.rowsX ? [rowBlocks, colBlocks, batch] : [colBlocks, rowBlocks, batch];
  return [c.gpu.dispatch(kernel, [u, first, second, out], grid, label)];
}

/**
 * How shaders/matmul.wgsl runs one product. The kernel puts N on the lanes; `swap` runs it on the transposed
 * problem Cᵀ = op(B)ᵀ·op(A)ᵀ (M and N exchanged, A and B bound the other way round, the result stored
 * transposed), which is better when M is the wider side or when only A's rows are whole vec4s.
 */
export interface MatmulPlan {
  swap: boolean;
  /** The kernel's view: C is M×N, op(A) M×K, op(B) K×N. */
  M: number; N: number; transA: boolean; transB: boolean;
  /** B's rows are read as aligned vec4s. */
  vec: boolean;
  rowsX: boolean;
  WG: number; TM: number; TN: number;
  /** Modelled cost, in instructions on the slower of two worker threads. */
  cost: number;
}

// Cost model for lavapipe, in x86 instructions per 8-lane SIMD group (counted in the compiled loop): every storage
// load is a loop over the lanes with a bounds check per element, uniform or not, so a row of A costs a load per k,
// a vec4 of B a little more, four scalar loads of B much more; each multiply-add costs a mul, an add, an exec-mask
// blend and a spill; each output is a masked per-lane store; each workgroup has a fixed cost.
const COST_A = 150, COST_B_VEC4 = 350, COST_B_SCALAR4 = 590, COST_FMA = 6.7, COST_STORE = 120, COST_WORKGROUP = 1500;
// Products up to this many multiply-adds all use one small tile and scalar loads, so that small and odd shapes
// (tests, toy models) share a few pipelines: each pipeline costs lavapipe about half a second to compile.
const SMALL = 1 << 18;

export function planMatmul(M: number, N: number, K: number, transA: boolean, transB: boolean, batch = 1, canSwap = true): MatmulPlan {
  const make = (swap: boolean, vecOk: boolean, TM: number, TN: number, WG: number): MatmulPlan => {
    const m = swap ? N : M, n = swap ? M : N;
    const tA = swap ? !transB : transA, tB = swap ? !transA : transB;
    const vec = vecOk && !tB && n % 4 === 0;
    const rowBlocks = Math.ceil(m / TM), colBlocks = Math.ceil(n / (4 * TN * WG));
    const perK = TM * COST_A + TN * (vec ? COST_B_VEC4 : COST_B_SCALAR4) + 4 * TM * TN * COST_FMA;
    const perGroup = K * perK + 4 * TM * TN * COST_STORE;
    // Two worker threads take the workgroups one at a time: the slower one runs ceil(w/2) of them.
    const cost = Math.ceil((rowBlocks * colBlocks * batch) / 2) * ((WG / 8) * perGroup + COST_WORKGROUP);
    const rowsX = rowBlocks <= 65535;
    return { swap, M: m, N: n, transA: tA, transB: tB, vec, rowsX, WG, TM, TN, cost };
  };
  const small = M * N * K <= SMALL;
  let best: MatmulPlan | null = null;
  for (const swap of canSwap ? [false, true] : [false]) {
    for (const TN of small ? [1] : [1, 4]) {
      for (const WG of small ? [8] : [8, 32]) {
        const p = make(swap, !small, 8, TN, WG);
        const blocks = Math.ceil(p.N / (4 * TN * WG));
        if (blocks > 65535 || (!p.rowsX && Math.ceil(p.M / p.TM) > 65535)) continue;
        if (!best || p.cost < best.cost) best = p;
      }
    }
  }
  if (!best) throw new Error(`matmul: ${M}x${N}x${K} is too large for one dispatch`);
  return best;
}

import type { CompileContext } from '../graph.js';
import { Dispatch, words } from '../gpu.js';
import { grid1d } from './grid.js';
import { planGemm, GemmTile } from './gemm_tiles.js';
import type { Product } from './matmul.js';

/** Test hooks: run every product on one tile shape and/or split K into this many chunks. */
export const tiledOverrides: { tile?: GemmTile; splits?: number } = {};

/**
 * A product on shaders/matmul_tiled.wgsl (the gpu plan family): one dispatch, or two with split-K (the chunks go to
 * a scratch buffer allocated here, once per program, and a second pass adds them in order). A bias and ReLU epilogue,
 * or a ReLU-gradient mask, is applied where C is stored: by the product, or by the split-K pass after the chunks are summed.
 */
export function dispatchTiledMatmul(c: CompileContext, p: Product, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, label: string): Dispatch[] {
  const { M, N, K, batch } = p;
  const cols = p.cols ?? N;
  const fold = cols !== N;
  if (fold && p.transB) throw new Error(`${label}: folded columns need an untransposed B`);
  const epilogue = !!p.bias || !!p.relu || !!p.mask;
  if (epilogue && (fold || p.accumulate)) throw new Error(`${label}: an epilogue needs a plain product (neither folded nor accumulating)`);
  const plan = planGemm(M, N, K, batch, c.gpu.plans.workgroupBytes, { forceTile: tiledOverrides.tile, forceSplits: tiledOverrides.splits });
  const aligned = (n: number) => n % 4 === 0;
  const vecA = aligned(p.strideA) && aligned(p.transA ? M : K);
  const vecB = aligned(p.strideB) && aligned(p.transB ? K : cols);
  const { BM, BN, TM, TN, WG } = plan.tile;
  const constants = {
    A_FAST_K: !p.transA, B_FAST_N: !p.transB, VEC_A: vecA, VEC_B: vecB, FOLD: fold, BM, BN, TM, TN, WG,
    EPI_BIAS: !!p.bias, EPI_RELU: !!p.relu, EPI_MASK: !!p.mask,
  };
  const params = [M, N, K, p.strideA, p.strideB, p.strideC ?? M * N, p.accumulate ? 1 : 0, cols, plan.splits, plan.kChunk, batch, 0];
  const u = c.uniform(words(params), 'matmul_tiled');
  const scratch = plan.splits > 1 ? c.gpu.buffer(plan.splits * batch * M * N, `${label} split-K`) : c.gpu.unused();
  // Without a bias or mask, A stands in for it (read-only twice is allowed; the placeholder may be bound writable as P).
  const buffers = [u, a, b, out, scratch, p.bias ?? a, p.mask ?? a];
  const main = c.gpu.dispatch(c.gpu.kernel('matmul_tiled', 'main', constants), buffers, plan.grid, `${label} tiled ${BM}x${BN}`);
  if (plan.splits === 1) return [main];
  const reduce = c.gpu.kernel('matmul_tiled', 'splitk_reduce', constants);
  return [main, c.gpu.dispatch(reduce, buffers, grid1d(batch * M * N, 256).grid, `${label} split-K ${plan.splits}`)];
}

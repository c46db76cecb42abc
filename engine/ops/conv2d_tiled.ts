import type { CompileContext } from '../graph.js';
import type { Dispatch } from '../gpu.js';
import { planGemm } from './gemm_tiles.js';
import { tiledOverrides } from './matmul_tiled.js';

/** The geometry words of shaders/conv2d_*.wgsl's Params (see conv2d.ts) and what a tiled kernel reads of them. */
export interface TiledConvGeometry { N: number; C: number; H: number; W: number; O: number; Ho: number; Wo: number; groups: number; KH: number; KW: number }

export const CONV_MODE = { forward: 0, inputGrad: 1, weightGrad: 2 } as const;

/**
 * One implicit-GEMM convolution dispatch on shaders/conv2d_tiled.wgsl (the gpu plan family). `z` is the number of
 * products (groups, times gradient groups for the weight gradient) and `parts` the weight gradient's split of each
 * gradient group's examples; `buffers` are the uniform, the two inputs, the bias (or any read-only buffer) and the output.
 * `epilogue.relu` (forward) stores max(y, 0), a ReLU folded into the convolution; `epilogue.mask` (input gradient) zeroes
 * dX where the mask, the output of the ReLU whose input was X, is not positive: the ReLU's gradient folded in.
 */
export function dispatchTiledConv(
  c: CompileContext, mode: number, g: TiledConvGeometry, z: number, parts: number, buffers: GPUBuffer[], label: string,
  epilogue: { relu?: boolean; mask?: GPUBuffer | null } = {},
): Dispatch {
  const taps = g.KH * g.KW, cg = g.C / g.groups, og = g.O / g.groups;
  const [M, N, K] = mode === CONV_MODE.forward ? [og, g.N * g.Ho * g.Wo, cg * taps]
    : mode === CONV_MODE.inputGrad ? [cg, g.N * g.H * g.W, og * taps]
    : [og, cg * taps, (g.N / (z / g.groups)) * g.Ho * g.Wo];
  const { tile } = planGemm(M, N, K, z * parts, c.gpu.plans.workgroupBytes, { forceTile: tiledOverrides.tile, canSplit: false });
  const { BM, BN, TM, TN, WG } = tile;
  const kernel = c.gpu.kernel('conv2d_tiled', 'main', {
    MODE: mode, A_FAST_K: true, B_FAST_N: true, BM, BN, TM, TN, WG, ...(epilogue.relu ? { EPI_RELU: true } : {}), ...(epilogue.mask ? { EPI_MASK: true } : {}),
  });
  // Without a mask, the first input stands in for it (bound read-only twice).
  return c.gpu.dispatch(kernel, [...buffers, epilogue.mask ?? buffers[1]], [Math.ceil(N / BN), Math.ceil(M / BM), z * parts], `${label} tiled ${BM}x${BN}`);
}

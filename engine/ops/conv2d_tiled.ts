import type { CompileContext } from '../graph.js';
import type { Dispatch } from '../gpu.js';
import { MAX_GRID, MAX_SPLITS, planGemm, splitK } from './gemm_tiles.js';
import { tiledOverrides } from './matmul_tiled.js';

/** The geometry words of shaders/conv2d_*.wgsl's Params (see conv2d.ts) and what a tiled kernel reads of them. */
export interface TiledConvGeometry {
  N: number; C: number; H: number; W: number; O: number; Ho: number; Wo: number; groups: number;
  KH: number; KW: number; SH: number; SW: number; DH: number; DW: number;
}

export const CONV_MODE = { forward: 0, inputGrad: 1, weightGrad: 2 } as const;

/**
 * One implicit-GEMM convolution dispatch on shaders/conv2d_tiled.wgsl (the gpu plan family). `z` is the number of
 * products (groups, times gradient groups for the weight gradient; the input gradient adds one product per stride
 * phase of each group here, the grid sized for the largest phase) and `parts` the weight gradient's split of each
 * gradient group's examples; `buffers` are the uniform, the two inputs, the bias (or any read-only buffer) and the output.
 * `epilogue.relu` (forward) stores max(y, 0), a ReLU folded into the convolution; `epilogue.mask` (input gradient) zeroes
 * dX where the mask, the output of the ReLU whose input was X, is not positive: the ReLU's gradient folded in.
 */
export function dispatchTiledConv(
  c: CompileContext, mode: number, g: TiledConvGeometry, z: number, parts: number, buffers: GPUBuffer[], label: string,
  epilogue: { relu?: boolean; mask?: GPUBuffer | null } = {},
): Dispatch {
  const taps = g.KH * g.KW, cg = g.C / g.groups, og = g.O / g.groups;
  const phases = mode === CONV_MODE.inputGrad ? g.SH * g.SW : 1;
  const [M, N, K] = mode === CONV_MODE.forward ? [og, g.N * g.Ho * g.Wo, cg * taps]
    : mode === CONV_MODE.inputGrad ? [cg, g.N * Math.ceil(g.H / g.SH) * Math.ceil(g.W / g.SW), og * phaseTaps(g.KH, g.SH, g.DH) * phaseTaps(g.KW, g.SW, g.DW)]
    : [og, cg * taps, (g.N / (z / g.groups)) * g.Ho * g.Wo];
  const { tile } = planGemm(M, N, K, z * phases * parts, c.gpu.plans.workgroupBytes, { forceTile: tiledOverrides.tile, canSplit: false });
  const { BM, BN, TM, TN, WG } = tile;
  const kernel = c.gpu.kernel('conv2d_tiled', 'main', {
    MODE: mode, BM, BN, TM, TN, WG, ...(epilogue.relu ? { EPI_RELU: true } : {}), ...(epilogue.mask ? { EPI_MASK: true } : {}),
  });
  // Without a mask, the first input stands in for it (bound read-only twice).
  const grid = [Math.ceil(N / BN), Math.ceil(M / BM), z * phases * parts];
  return c.gpu.dispatch(kernel, [...buffers, epilogue.mask ?? buffers[1]], grid, `${label} tiled ${BM}x${BN}`);
}

/** Partial weight gradients held at once, in floats (32 MiB): beyond that the split's second pass costs more than it gains. */
const MAX_PARTIAL_FLOATS = 8 * 2 ** 20;

/**
 * Parts of each gradient group's `perGradGroup` examples for the weight gradient on the gpu plans: split-K on whole
 * examples, so that the M = O/groups by N = C/groups·KH·KW output tiles of `z` products (groups x gradient groups) fill a
 * data-centre GPU, as planGemm splits a plain product; within the grid's z limit and MAX_PARTIAL_FLOATS. No part is empty.
 */
export function weightGradParts(g: TiledConvGeometry, perGradGroup: number, z: number, workgroupBytes: number): number {
  const M = g.O / g.groups, N = (g.C / g.groups) * g.KH * g.KW, K = perGradGroup * g.Ho * g.Wo;
  const { grid } = planGemm(M, N, K, z, workgroupBytes, { canSplit: false });
  const limit = Math.max(1, Math.min(MAX_SPLITS, perGradGroup, Math.floor(MAX_GRID / z), Math.floor(MAX_PARTIAL_FLOATS / (z * M * N))));
  const wanted = splitK(grid[0] * grid[1] * grid[2], K, limit);
  // Whole examples per part: rounded down, so that there are at least the parts wanted, unless that passes the limit.
  const parts = Math.ceil(perGradGroup / Math.floor(perGradGroup / wanted));
  return parts <= limit ? parts : Math.ceil(perGradGroup / Math.ceil(perGradGroup / wanted));
}

/**
 * The most kernel taps along one axis that reach one stride phase of the input: the taps reaching a phase are every
 * stride / gcd(stride, dilation)-th one (the phase with the first tap, 0, has the most).
 */
function phaseTaps(kernel: number, stride: number, dilation: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return Math.ceil(kernel / (stride / gcd(stride, dilation)));
}

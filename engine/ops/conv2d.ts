import { Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';
import { dispatchMatmul } from './matmul.js';
import { grid1d } from './grid.js';
import { sumMiddle } from './reduce.js';
import { CONV_MODE, dispatchTiledConv, weightGradParts } from './conv2d_tiled.js';

export type Pair = number | [number, number];

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number }

/** Geometry of one convolution, carried as node attributes by the forward and both gradient ops. */
interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  O: number; Ho: number; Wo: number; groups: number;
  KH: number; KW: number; SH: number; SW: number;
  PH: number; PW: number; DH: number; DW: number;
}

/**
 * 2D convolution of x [N, C, H, W] with weights w [O, C/groups, kh, kw] (PyTorch's layout) and an optional bias
 * b [O]: output [N, O, Ho, Wo] with Ho = floor((H + 2*padding - dilation*(kh - 1) - 1) / stride) + 1, as in PyTorch.
 * Forward, input gradient and weight gradient are implicit GEMMs on register tiles (shaders/conv2d_*.wgsl) of up
 * to 16 channels of a group. Pointwise convolutions (1x1, stride 1, no padding, one group)
 * run their forward pass and input gradient as plain products on the matmul kernel instead: Y = W·[X[0] X[1] ...]
 * with each X[n] a [C, H*W] matrix and the examples side by side in the columns, and dX likewise from Wᵀ and dY.
 * Their weight gradient, Σ_n dY[n]·X[n]ᵀ, stays on the tiled weight-gradient kernel, which measured about 1.5x faster
 * than the matmul kernel on it (both operands are read across their contiguous axis).
 * With graph.gradGroups = K and w (or b) a parameter, its gradient is [K, ...shape]: each run of N/K consecutive
 * examples reduced separately. Convolutions record no per-example factors in graph.perExample.
 * With the gpu plans all three run as implicit GEMMs on workgroup-memory tiles instead (shaders/conv2d_tiled.wgsl).
 */
export function conv2d(x: Node, w: Node, b: Node | null, opts: Conv2dOptions = {}): Node {
  if (x.shape.length !== 4) throw new Error(`conv2d: input must be [N, C, H, W], got [${x.shape}]`);
  if (w.shape.length !== 4) throw new Error(`conv2d: weight must be [O, C/groups, kh, kw], got [${w.shape}]`);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`conv2d: groups must be a positive integer, got ${groups}`);
  const [SH, SW] = pair('stride', opts.stride ?? 1, 1);
  const [PH, PW] = pair('padding', opts.padding ?? 0, 0);
  const [DH, DW] = pair('dilation', opts.dilation ?? 1, 1);
  const [N, C, H, W] = x.shape;
  const [O, Cg, KH, KW] = w.shape;
  if (C % groups !== 0 || O % groups !== 0) {
    throw new Error(
      `conv2d: input channels ${C} and output channels ${O} must both be divisible by groups ${groups} (input [${x.shape}], weight [${w.shape}])`,
    );
  }
  if (Cg * groups !== C) {
    const perGroup = groups > 1 ? ` (${Cg} per group x ${groups} groups)` : '';
    throw new Error(`conv2d: weight [${w.shape}] expects ${Cg * groups} input channels${perGroup} but input [${x.shape}] has ${C}`);
  }
  if (b && (b.shape.length !== 1 || b.shape[0] !== O)) throw new Error(`conv2d: bias must be [${O}] for weight [${w.shape}], got [${b.shape}]`);
  const Ho = outputSize(H, KH, SH, PH, DH);
  const Wo = outputSize(W, KW, SW, PW, DW);
  if (Ho < 1 || Wo < 1) {
    const [size, k, s, pd, d] = Ho < 1 ? [Ho, KH, SH, PH, DH] : [Wo, KW, SW, PW, DW];
    const extra = (s !== 1 ? `, stride ${s}` : '') + (d !== 1 ? `, dilation ${d}` : '');
    throw new Error(`conv2d: input ${H}x${W} with kernel ${k}, padding ${pd}${extra} gives an output of size ${size}; use a larger input or more padding`);
  }
  const geo: ConvGeometry = { N, C, H, W, O, Ho, Wo, groups, KH, KW, SH, SW, PH, PW, DH, DW };
  return x.graph.op(Conv2dOp, b ? [x, w, b] : [x, w], [N, O, Ho, Wo], { geo });
}

/** PyTorch's output size of a convolution along one axis (may be < 1 for inputs that are too small). */
export function outputSize(size: number, kernel: number, stride: number, padding: number, dilation: number): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

function pair(name: string, v: Pair, min: number): [number, number] {
  const [a, b] = typeof v === 'number' ? [v, v] : v;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < min || b < min) {
    throw new Error(`conv2d: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [a, b];
}

/** The Params words shared by the conv2d shaders: geometry, then up to 8 kernel-specific words. */
function geometryWords(g: ConvGeometry, extra: number[] = []): ArrayBuffer {
  const tail = [...extra, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8);
  return words([g.N, g.C, g.H, g.W, g.O, g.Ho, g.Wo, g.groups, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, ...tail]);
}

/**
 * Register tiles (see the shaders): 8 positions, pixels or taps on the lanes x up to 16 channels per invocation;
 * a group with fewer channels (depthwise layers, a 1-channel input's gradient) gets the power of two covering them,
 * so that no tile computes channels it then discards.
 */
const TILE = 8;
const channelTile = (channels: number) => Math.min(16, 2 ** Math.ceil(Math.log2(channels)));
const WORKGROUPS = [64, 32, 16, 8];
const MAX_GRID = 65535;

/** The workgroup size for `lanes` invocations that leaves the fewest idle lanes (the largest on ties). */
function workgroupFor(lanes: number): number {
  let best = WORKGROUPS[0];
  for (const wg of WORKGROUPS) {
    if (Math.ceil(lanes / wg) <= MAX_GRID && idleLanes(lanes, wg) < idleLanes(lanes, best)) best = wg;
  }
  return best;
}
const idleLanes = (lanes: number, wg: number) => Math.ceil(lanes / wg) * wg - lanes;

export const Conv2dOp: OpDef = {
  type: 'conv2d',
  /** On the gpu plans a following ReLU is applied in the store (engine/fusion.ts); the lavapipe kernels take none. */
  accepts: (_n, plans) => ({ bias: false, relu: plans.conv === 'gpu' }),
  compile(n, c, epilogue) {
    const geo: ConvGeometry = n.attrs.geo;
    const [x, w, b] = n.inputs;
    const u = c.uniform(geometryWords(geo, [b ? 1 : 0]), 'conv2d');
    if (c.gpu.plans.conv === 'gpu') {
      const relu = !!epilogue?.relu;
      const buffers = [u, c.buf(x), c.buf(w), c.buf(b ?? w), c.buf(n)];
      return [dispatchTiledConv(c, CONV_MODE.forward, geo, geo.groups, 1, buffers, `conv2d${relu ? '+relu' : ''} ${describe(geo)}`, { relu })];
    }
    if (epilogue) throw new Error('conv2d: the lavapipe kernels take no epilogue');
    if (isPointwise(geo)) {
      const P = geo.H * geo.W;
      const product = {
        M: geo.O, N: geo.N * P, K: geo.C, cols: P, transA: false, transB: false,
        batch: 1, strideA: 0, strideB: geo.C * P, strideC: geo.O * P, accumulate: !!b,
      };
      const main = dispatchMatmul(c, product, c.buf(w), c.buf(x), c.buf(n), `conv2d 1x1 ${describe(geo)}`);
      if (!b) return main;
      const fillBias = c.gpu.kernel('conv2d_forward', 'fill_bias');
      const fillGrid = grid1d(Math.ceil(n.size / 16), 64).grid;
      const fill = c.gpu.dispatch(fillBias, [u, c.buf(x), c.buf(w), c.buf(b), c.buf(n)], fillGrid, `conv2d bias ${describe(geo)}`);
      return [fill, ...main];
    }
    const lanes = Math.ceil((geo.N * geo.Ho * geo.Wo) / TILE), WG = workgroupFor(lanes);
    const TO = channelTile(geo.O / geo.groups);
    const grid = [Math.ceil(geo.O / geo.groups / TO), Math.ceil(lanes / WG), geo.groups];
    const k = c.gpu.kernel('conv2d_forward', 'main', { WG, TO });
    return [c.gpu.dispatch(k, [u, c.buf(x), c.buf(w), c.buf(b ?? w), c.buf(n)], grid, `conv2d ${describe(geo)}`)];
  },
  backward(n, dy) {
    const geo: ConvGeometry = n.attrs.geo;
    const [x, w, b] = n.inputs;
    const g = n.graph;
    const dx = g.op(Conv2dInputGradOp, [dy, w], x.shape, { geo });
    const dw = weightGrad(x, dy, geo, w.kind === 'param' ? g.gradGroups : 1, w);
    const db = b ? biasGrad(dy, geo, b.kind === 'param' ? g.gradGroups : 1, b) : null;
    return b ? [dx, dw, db] : [dx, dw];
  },
};

export const Conv2dInputGradOp: OpDef = {
  type: 'conv2d_input_grad',
  /** On the gpu plans the gradient of a ReLU that fed the convolution is applied in the store (engine/fusion.ts). */
  accepts: (_n, plans) => ({ mask: plans.conv === 'gpu' }),
  compile(n, c, epilogue) {
    const geo: ConvGeometry = n.attrs.geo;
    const [dy, w] = n.inputs;
    if (c.gpu.plans.conv === 'gpu') {
      const u = c.uniform(geometryWords(geo), 'conv2d_input_grad');
      const mask = epilogue?.mask ? c.buf(epilogue.mask) : null;
      const buffers = [u, c.buf(dy), c.buf(w), c.buf(w), c.buf(n)];
      return [dispatchTiledConv(c, CONV_MODE.inputGrad, geo, geo.groups, 1, buffers, `conv2d dx${mask ? '+mask' : ''} ${describe(geo)}`, { mask })];
    }
    if (epilogue) throw new Error('conv2d input gradient: the lavapipe kernels take no epilogue');
    if (isPointwise(geo)) {
      const P = geo.H * geo.W;
      const product = { M: geo.C, N: geo.N * P, K: geo.O, cols: P, transA: true, transB: false, batch: 1, strideA: 0, strideB: geo.O * P, strideC: geo.C * P };
      return dispatchMatmul(c, product, c.buf(w), c.buf(dy), c.buf(n), `conv2d dx 1x1 ${describe(geo)}`);
    }
    const u = c.uniform(geometryWords(geo), 'conv2d_input_grad');
    // Phase 0 has the most pixels; in a smaller phase the surplus invocations store nothing.
    const pixels = geo.N * Math.ceil(geo.H / geo.SH) * Math.ceil(geo.W / geo.SW);
    const lanes = Math.ceil(pixels / TILE), WG = workgroupFor(lanes);
    const TC = channelTile(geo.C / geo.groups);
    const grid = [Math.ceil(geo.C / geo.groups / TC), Math.ceil(lanes / WG), geo.groups * geo.SH * geo.SW];
    const k = c.gpu.kernel('conv2d_input_grad', 'main', { WG, TC });
    const buffers = [u, c.buf(dy), c.buf(w), c.buf(n)];
    const main = c.gpu.dispatch(k, buffers, grid, `conv2d dx ${describe(geo)}`);
    if (allPhasesHaveTaps(geo)) return [main];
    const zero = c.gpu.dispatch(c.gpu.kernel('conv2d_input_grad', 'zero'), buffers, grid1d(Math.ceil(n.size / 16), 64).grid, `conv2d dx zero ${describe(geo)}`);
    return [zero, main];
  },
};

/**
 * Partial weight gradients [parts, O, C/groups, kh, kw] (see shaders/conv2d_weight_grad.wgsl): each gradient group's
 * examples are split into chunks x slices parts, so that the reduction has enough independent tiles to fill the lanes
 * and cores; parts are consecutive within a gradient group. How many is chosen for the plans the graph was built for
 * (weightGrad); either family's kernel computes any split correctly.
 */
export const Conv2dWeightGradOp: OpDef = {
  type: 'conv2d_weight_grad',
  compile(n, c) {
    const geo: ConvGeometry = n.attrs.geo;
    const { perChunk, chunksPerGradGroup, perGradGroup, slices, tapTiles, chunks, WG } = n.attrs;
    const [x, dy] = n.inputs;
    if (c.gpu.plans.conv === 'gpu') {
      // The same partial-gradient parts as below, each now a contiguous run of a gradient group's examples (split-K).
      const parts = chunksPerGradGroup * slices, perPart = Math.ceil(perGradGroup / parts);
      const tu = c.uniform(geometryWords(geo, [0, perGradGroup, parts, perPart]), 'conv2d_tiled dw');
      const z = (chunks / chunksPerGradGroup) * geo.groups;
      return [dispatchTiledConv(c, CONV_MODE.weightGrad, geo, z, parts, [tu, c.buf(x), c.buf(dy), c.buf(dy), c.buf(n)], `conv2d dw ${describe(geo)}`)];
    }
    const u = c.uniform(geometryWords(geo, [perChunk, chunksPerGradGroup, perGradGroup, slices, tapTiles]), 'conv2d_weight_grad');
    const TO = channelTile(geo.O / geo.groups);
    const grid = [Math.ceil(geo.O / geo.groups / TO), Math.ceil((tapTiles * slices) / WG), chunks * geo.groups];
    const k = c.gpu.kernel('conv2d_weight_grad', 'weight_grad', { WG, TO });
    return [c.gpu.dispatch(k, [u, c.buf(x), c.buf(dy), c.buf(n)], grid, `conv2d dw ${describe(geo)}`)];
  },
};

/** Per-example bias gradients [N, O]: dy summed over positions. */
export const Conv2dBiasGradOp: OpDef = {
  type: 'conv2d_bias_grad',
  compile(n, c) {
    const geo: ConvGeometry = n.attrs.geo;
    const [dy] = n.inputs;
    const u = c.uniform(geometryWords(geo), 'conv2d_bias_grad');
    const k = c.gpu.kernel('conv2d_weight_grad', 'bias_grad');
    return [c.gpu.dispatch(k, [u, c.buf(dy), c.buf(dy), c.buf(n)], grid1d(geo.N * geo.O, 64).grid, `conv2d db ${describe(geo)}`)];
  },
};

/** Whether every stride phase of the input is reached by some kernel tap (else its pixels get no gradient). */
function allPhasesHaveTaps(g: ConvGeometry): boolean {
  const reached = (stride: number, pad: number, taps: number, dilation: number) => {
    const hit = new Set<number>();
    for (let t = 0; t < taps; t++) hit.add((((t * dilation - pad) % stride) + stride) % stride);
    return hit.size === stride;
  };
  return reached(g.SH, g.PH, g.KH, g.DH) && reached(g.SW, g.PW, g.KW, g.DW);
}

/** Enough chunks that the weight-gradient grid has this many workgroups (when the batch allows). */
const TARGET_WORKGROUPS = 64;

function weightGrad(x: Node, dy: Node, geo: ConvGeometry, gradGroups: number, w: Node): Node {
  const g = x.graph;
  const perGradGroup = splitBatch(geo.N, gradGroups, w);
  if (geo.groups * gradGroups > MAX_GRID) {
    throw new Error(`${w.name}: ${geo.groups} groups x ${gradGroups} gradient groups exceed ${MAX_GRID} workgroups; use fewer gradient groups`);
  }
  const K = (geo.C / geo.groups) * geo.KH * geo.KW;
  const tapTiles = Math.ceil(K / TILE);
  const { perChunk, chunksPerGradGroup, slices, WG } = g.plans?.conv === 'gpu'
    ? gpuChunks(geo, perGradGroup, gradGroups, tapTiles, g.plans.workgroupBytes)
    : lavapipeChunks(geo, perGradGroup, gradGroups, tapTiles);
  const chunks = gradGroups * chunksPerGradGroup;
  const parts = chunksPerGradGroup * slices;
  const size = geo.O * K;
  const plan = { geo, perChunk, chunksPerGradGroup, perGradGroup, slices, tapTiles, chunks, WG };
  const partial = g.op(Conv2dWeightGradOp, [x, dy], [chunks * slices, ...w.shape], plan);
  const shape = gradGroups > 1 ? [gradGroups, ...w.shape] : w.shape;
  if (parts === 1) return g.view(partial, shape);
  return g.view(sumMiddle(g.view(partial, [gradGroups, parts, size]), gradGroups, parts, size), shape);
}

interface WeightGradChunks { perChunk: number; chunksPerGradGroup: number; slices: number; WG: number }

/** The lavapipe kernel's split: enough chunks for TARGET_WORKGROUPS of its register-tile workgroups. */
function lavapipeChunks(geo: ConvGeometry, perGradGroup: number, gradGroups: number, tapTiles: number): WeightGradChunks {
  // Example slices interleaved on the lanes: as many as fill whole workgroups best (few taps need many slices).
  const { slices, WG } = slicesAndWorkgroup(tapTiles, perGradGroup);
  const base = Math.ceil((tapTiles * slices) / WG) * Math.ceil(geo.O / geo.groups / channelTile(geo.O / geo.groups)) * geo.groups;
  const maxChunks = Math.max(1, Math.floor(MAX_GRID / (geo.groups * gradGroups)));
  const wanted = Math.min(Math.floor(perGradGroup / slices), maxChunks, Math.max(1, Math.ceil(TARGET_WORKGROUPS / (base * gradGroups))));
  const perChunk = Math.ceil(perGradGroup / wanted);
  return { perChunk, chunksPerGradGroup: Math.ceil(perGradGroup / perChunk), slices, WG };
}

/**
 * The gpu plans' split (conv2d_tiled.ts weightGradParts), as chunks of one slice: the lavapipe kernel reads the same
 * attributes, so a graph built for either family compiles correctly on the other.
 */
function gpuChunks(geo: ConvGeometry, perGradGroup: number, gradGroups: number, tapTiles: number, workgroupBytes: number): WeightGradChunks {
  const parts = weightGradParts(geo, perGradGroup, gradGroups * geo.groups, workgroupBytes);
  return { perChunk: Math.ceil(perGradGroup / parts), chunksPerGradGroup: parts, slices: 1, WG: workgroupFor(tapTiles) };
}

/** A 1x1 convolution with stride 1, no padding and one group: one plain GEMM over the batch (dilation does not matter). */
function isPointwise(g: ConvGeometry): boolean {
  return g.KH === 1 && g.KW === 1 && g.SH === 1 && g.SW === 1 && g.PH === 0 && g.PW === 0 && g.groups === 1;
}

/**
 * Example slices (at most 16 and the examples available) and workgroup size that leave the fewest idle lanes
 * (relative to the work), preferring fewer slices and then larger workgroups.
 */
function slicesAndWorkgroup(tapTiles: number, examples: number): { slices: number; WG: number } {
  let best = { slices: 1, WG: workgroupFor(tapTiles) };
  let bestIdle = idleLanes(tapTiles, best.WG) / tapTiles;
  for (let s = 2; s <= Math.min(16, examples); s++) {
    const WG = workgroupFor(tapTiles * s);
    const idle = idleLanes(tapTiles * s, WG) / (tapTiles * s);
    if (idle < bestIdle - 1e-9) { best = { slices: s, WG }; bestIdle = idle; }
  }
  return best;
}

function biasGrad(dy: Node, geo: ConvGeometry, gradGroups: number, b: Node): Node {
  const g = dy.graph;
  const perGradGroup = splitBatch(geo.N, gradGroups, b);
  const perExample = g.op(Conv2dBiasGradOp, [dy], [geo.N, geo.O], { geo });
  return sumMiddle(perExample, gradGroups, perGradGroup, geo.O);
}

function splitBatch(N: number, gradGroups: number, p: Node): number {
  if (N % gradGroups !== 0) {
    throw new Error(
      `${p.name}: batch of ${N} examples does not split into ${gradGroups} equal gradient groups; use a batch size divisible by ${gradGroups}`,
    );
  }
  return N / gradGroups;
}

function describe(g: ConvGeometry): string {
  return `[${g.N},${g.C},${g.H},${g.W}] k${g.KH}x${g.KW} o${g.O} s${g.SH},${g.SW} p${g.PH},${g.PW} d${g.DH},${g.DW} g${g.groups}`;
}

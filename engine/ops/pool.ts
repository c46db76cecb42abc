import { Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';
import { grid1d } from './grid.js';

export type Pair = number | [number, number];

export interface PoolOptions {
  kernel: Pair;
  /** Default: the kernel size (PyTorch's default). */
  stride?: Pair;
  padding?: Pair;
  /** Round the output size up, as PyTorch's ceil_mode (the last window must start inside the image or the left padding). */
  ceilMode?: boolean;
}

export interface AvgPoolOptions extends PoolOptions {
  /** Divide by the window size including padding (PyTorch's default, true) or by the count of real inputs. */
  countIncludePad?: boolean;
}

/** Window geometry of a pool over x [N, C, H, W], carried as node attributes by the forward and backward ops. */
interface PoolGeometry {
  NC: number; H: number; W: number; Ho: number; Wo: number;
  KH: number; KW: number; SH: number; SW: number; PH: number; PW: number;
  countIncludePad: boolean;
}

/**
 * Max pooling of x [N, C, H, W] with PyTorch's windows and output size. The gradient goes to the first maximum of
 * each window in row-major scan order (PyTorch's choice on ties); padding never wins.
 */
export function maxPool2d(x: Node, opts: PoolOptions): Node {
  const geo = geometry('maxPool2d', x, opts, true);
  return x.graph.op(MaxPoolOp, [x], [x.shape[0], x.shape[1], geo.Ho, geo.Wo], { geo });
}

/** Average pooling of x [N, C, H, W] with PyTorch's windows, output size and divisor (count_include_pad defaults to true). */
export function avgPool2d(x: Node, opts: AvgPoolOptions): Node {
  const geo = geometry('avgPool2d', x, opts, opts.countIncludePad ?? true);
  return x.graph.op(AvgPoolOp, [x], [x.shape[0], x.shape[1], geo.Ho, geo.Wo], { geo });
}

/**
 * Adaptive average pooling of x [N, C, H, W] to [N, C, oh, ow]: output row i averages input rows
 * floor(i*H/oh) .. ceil((i+1)*H/oh) - 1 (PyTorch's windows; they overlap when the sizes do not divide).
 */
export function adaptiveAvgPool2d(x: Node, size: Pair): Node {
  checkInput('adaptiveAvgPool2d', x);
  const [Ho, Wo] = typeof size === 'number' ? [size, size] : size;
  if (!Number.isInteger(Ho) || !Number.isInteger(Wo) || Ho < 1 || Wo < 1) {
    throw new Error(`adaptiveAvgPool2d: output size must be positive integers, got ${JSON.stringify(size)}`);
  }
  const [N, C, H, W] = x.shape;
  const geo: PoolGeometry = { NC: N * C, H, W, Ho, Wo, KH: 0, KW: 0, SH: 1, SW: 1, PH: 0, PW: 0, countIncludePad: false };
  return x.graph.op(AdaptiveAvgPoolOp, [x], [N, C, Ho, Wo], { geo });
}

/** Mean over the spatial axes: x [N, C, H, W] -> [N, C] (an adaptive average pool to 1x1, viewed without the 1x1). */
export function globalAvgPool(x: Node): Node {
  const y = adaptiveAvgPool2d(x, [1, 1]);
  return x.graph.view(y, [x.shape[0], x.shape[1]]);
}

/** PyTorch's pooling output size along one axis (pooling_output_shape). */
export function poolOutputSize(size: number, kernel: number, stride: number, padding: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * padding - kernel + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= size + padding) out--;
  return out;
}

function checkInput(op: string, x: Node) {
  if (x.shape.length !== 4) throw new Error(`${op}: input must be [N, C, H, W], got [${x.shape}]`);
}

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const [a, b] = typeof v === 'number' ? [v, v] : v;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < min || b < min) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [a, b];
}

function geometry(op: string, x: Node, opts: PoolOptions, countIncludePad: boolean): PoolGeometry {
  checkInput(op, x);
  const [KH, KW] = pair(op, 'kernel', opts.kernel, 1);
  const [SH, SW] = pair(op, 'stride', opts.stride ?? opts.kernel, 1);
  const [PH, PW] = pair(op, 'padding', opts.padding ?? 0, 0);
  if (2 * PH > KH || 2 * PW > KW) throw new Error(`${op}: padding ${PH}x${PW} must be at most half the kernel ${KH}x${KW}`);
  const [N, C, H, W] = x.shape;
  const ceil = !!opts.ceilMode;
  const Ho = poolOutputSize(H, KH, SH, PH, ceil), Wo = poolOutputSize(W, KW, SW, PW, ceil);
  if (Ho < 1 || Wo < 1) {
    throw new Error(`${op}: input ${H}x${W} with kernel ${KH}x${KW}, stride ${SH}x${SW}, padding ${PH}x${PW} gives an output of ${Ho}x${Wo}; use a larger `
      + `input or a smaller kernel`);
  }
  return { NC: N * C, H, W, Ho, Wo, KH, KW, SH, SW, PH, PW, countIncludePad };
}

/** An op on pool.wgsl's `entry`: one invocation per element of its output, inputs bound as A and B. */
function poolOp(type: string, entry: string, backward?: OpDef['backward']): OpDef {
  return {
    type,
    compile(n, c) {
      const g: PoolGeometry = n.attrs.geo;
      const { grid, rowStride } = grid1d(n.size);
      const u = c.uniform(words([g.NC, g.H, g.W, g.Ho, g.Wo, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.countIncludePad ? 1 : 0, rowStride, 0, 0, 0]), type);
      const [a, b] = n.inputs;
      return [c.gpu.dispatch(c.gpu.kernel('pool', entry), [u, c.buf(a), c.buf(b ?? a), c.buf(n)], grid, `${type} [${n.shape}]`)];
    },
    backward,
  };
}

export const MaxPoolOp: OpDef = poolOp('max_pool2d', 'max_forward', (n, dy) => {
  const x = n.inputs[0];
  const g = n.graph;
  const argmax = g.op(MaxPoolArgmaxOp, [x], n.shape, n.attrs);
  return [g.op(MaxPoolBackwardOp, [dy, argmax], x.shape, n.attrs)];
});

/** Index within the plane of each window's first maximum (as an exactly represented float). */
export const MaxPoolArgmaxOp: OpDef = poolOp('max_pool2d_argmax', 'max_argmax');
export const MaxPoolBackwardOp: OpDef = poolOp('max_pool2d_backward', 'max_backward');

export const AvgPoolOp: OpDef = poolOp('avg_pool2d', 'avg_forward', (n, dy) => [n.graph.op(AvgPoolBackwardOp, [dy], n.inputs[0].shape, n.attrs)]);
export const AvgPoolBackwardOp: OpDef = poolOp('avg_pool2d_backward', 'avg_backward');

export const AdaptiveAvgPoolOp: OpDef = poolOp('adaptive_avg_pool2d', 'adaptive_forward', (n, dy) => [n.graph.op(AdaptiveAvgPoolBackwardOp, [dy],
  n.inputs[0].shape, n.attrs)]);
export const AdaptiveAvgPoolBackwardOp: OpDef = poolOp('adaptive_avg_pool2d_backward', 'adaptive_backward');

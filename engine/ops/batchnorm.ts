import { Node, OpDef, Parameter, CompileContext } from '../graph.js';
import { Gpu, f32, words } from '../gpu.js';

/** The running statistics a batch norm layer keeps (PyTorch's buffers), updated in place in training mode. */
export interface RunningStats {
  mean: Parameter;
  var: Parameter;
  /** num_batches_tracked, a one-element float32 counter (exact up to 2^24 batches). */
  batchesTracked: Parameter | null;
  momentum: number;
}

export interface BatchNormOptions {
  eps?: number;
  /** Required in eval mode; in training mode, updated once per run of the compiled program. */
  running?: RunningStats | null;
  /** Layer name used in error messages. */
  name?: string;
}

/**
 * Batch normalisation over the channel axis of x [N, C, ...]: y = (x - mean) / sqrt(var + eps) * gamma + beta.
 *
 * Training mode (graph.mode = 'train') uses the batch statistics with the biased variance; with
 * graph.gradGroups = K > 1 the batch is K groups of N/K consecutive examples, each normalised with its own
 * statistics (one pass = K separate micro-batches), and the gradients of gamma and beta are per group [K, C]
 * when they are parameters. The running buffers, if given, are updated in place by the statistics dispatch
 * (momentum as PyTorch, unbiased variance in the running estimate), folding in the K groups one after another
 * as PyTorch would for K consecutive micro-batches; num_batches_tracked grows by K.
 * Eval mode normalises with the running statistics and leaves them unchanged.
 */
export function batchNorm2d(x: Node, gamma: Node, beta: Node, opts: BatchNormOptions = {}): Node {
  const g = x.graph;
  const name = opts.name ?? 'batch_norm';
  const eps = opts.eps ?? 1e-5;
  if (x.shape.length < 2) throw new Error(`${name}: expects input [N, C, H, W], got [${x.shape}]`);
  const [N, C] = x.shape;
  const HW = x.size / (N * C);
  for (const [what, t] of [['weight', gamma], ['bias', beta]] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== C) throw new Error(`${name}: ${what} has shape [${t.shape}] but the input [${x.shape}] has ${C} channels`);
  }
  const K = g.gradGroups;
  if (N % K !== 0) throw new Error(`${name}: a batch of ${N} does not split into ${K} equal groups; use a batch size divisible by ${K}`);
  const train = g.mode === 'train';
  const running = opts.running ?? null;
  let stats: Node;
  if (train) {
    if ((N / K) * HW < 2) {
      throw new Error(`${name}: expected more than 1 value per channel when training, got input [${x.shape}]${K > 1 ? ` in ${K} groups` : ''}; use a larger `
        + `batch or input`);
    }
    stats = g.op(BatchStatsOp, [x], [K, 2, C], { N, C, HW, groups: K, lanes: lanesFor((N / K) * HW), running }, 'f32', `${name}.stats`);
  } else {
    if (!running) throw new Error(`${name}: eval mode needs running statistics; pass opts.running`);
    stats = g.op(RunningStatsOp, [], [1, 2, C], { C, running }, 'f32', `${name}.running_stats`);
  }
  return g.op(NormalizeOp, [x, stats, gamma, beta], x.shape, { N, C, HW, eps, statsGroups: train ? K : 1, train }, 'f32', name);
}

/** Lanes per (group, channel) in the first reduction level: about sqrt(M), between 64 and 1024, at most M. */
function lanesFor(M: number): number {
  return Math.min(M, Math.max(64, Math.min(1024, Math.ceil(Math.sqrt(M)))));
}

interface ParamsIn {
  N: number; C: number; HW: number; groups: number; lanes?: number; statsGroups?: number;
  eps?: number; momentum?: number; which?: number; sumGroups?: boolean;
}

function params(a: ParamsIn): ArrayBuffer {
  const lanes = a.lanes ?? 1;
  return words([
    a.N, a.C, a.HW, a.groups,
    lanes, Math.floor(lanes / a.HW), lanes % a.HW, a.statsGroups ?? a.groups,
    f32(a.eps ?? 0), f32(a.momentum ?? 0), 0, 0,
    a.which ?? 0, a.sumGroups ? 1 : 0, 0, 0,
  ]);
}

/** One invocation per 4 positions (PER in the shader) of each channel and example. */
function elementGrid(N: number, C: number, HW: number): number[] {
  return [Math.ceil(HW / (4 * 64)), C, N];
}

/** The buffers bound where an entry point of shaders/batchnorm*.wgsl does not use a binding (one per writable binding). */
function dummies(gpu: Gpu) {
  return { read: gpu.unused(), mean: gpu.unused('bn mean'), var: gpu.unused('bn var'), counter: gpu.unused('bn counter') };
}

/**
 * Values per channel (N * HW, all groups) up to which the gpu plans reduce each channel in one pass of one workgroup
 * (shaders/batchnorm_onepass.wgsl) instead of two; beyond it too few workgroups would share the work. Batch norm follows
 * the convolutions' plan family, as it follows convolutions in the models. The lavapipe plans keep two passes: their
 * first level spreads a channel over many invocations, which a CPU adapter runs with no barrier.
 */
export const ONE_PASS_MAX = 32768;
function onePass(gpu: Gpu, N: number, HW: number): boolean {
  return gpu.plans.conv === 'gpu' && N * HW <= ONE_PASS_MAX;
}

/** A dispatch of shaders/batchnorm_onepass.wgsl's `entry`, one workgroup per channel, with named buffers; the rest are dummies. */
function bnOnePass(c: CompileContext, entry: string, u: GPUBuffer, C: number,
  b: { x: GPUBuffer; dy?: GPUBuffer; stats?: GPUBuffer; out: GPUBuffer; mean?: GPUBuffer; var?: GPUBuffer; counter?: GPUBuffer },
  constants: Record<string, boolean>, label: string) {
  const d = dummies(c.gpu);
  const list = [u, b.x, b.dy ?? d.read, b.stats ?? d.read, b.out, b.mean ?? d.mean, b.var ?? d.var, b.counter ?? d.counter];
  return c.gpu.dispatch(c.gpu.kernel('batchnorm_onepass', entry, constants), list, [C, 1, 1], label);
}

/** A dispatch of shaders/batchnorm.wgsl's `entry` with named buffers; the rest are dummies. */
function bn(c: CompileContext, entry: string, u: GPUBuffer,
  b: { x?: GPUBuffer; dy?: GPUBuffer; stats?: GPUBuffer; gamma?: GPUBuffer; shift?: GPUBuffer; out: GPUBuffer; mean?: GPUBuffer; var?: GPUBuffer },
  grid: number[], constants = {}, label = entry) {
  const d = dummies(c.gpu);
  const list = [u, b.x ?? d.read, b.dy ?? d.read, b.stats ?? d.read, b.gamma ?? d.read, b.shift ?? d.read, b.out, b.mean ?? d.mean, b.var ?? d.var];
  return c.gpu.dispatch(c.gpu.kernel('batchnorm', entry, constants), list, grid, label);
}

/** Batch statistics [K, 2, C] (mean, biased variance) and, with running buffers, their in-place update and the batch count. */
export const BatchStatsOp: OpDef = {
  type: 'batchnorm_stats',
  compile(n, c) {
    const { N, C, HW, groups, lanes, running } = n.attrs as { N: number; C: number; HW: number; groups: number; lanes: number; running: RunningStats | null };
    const u = c.uniform(params({ N, C, HW, groups, lanes, momentum: running?.momentum ?? 0 }), n.name);
    const counter = running?.batchesTracked?.ensure(c.gpu);
    if (onePass(c.gpu, N, HW)) {
      const b = { x: c.buf(n.inputs[0]), out: c.buf(n), mean: running?.mean.ensure(c.gpu), var: running?.var.ensure(c.gpu), counter };
      return [bnOnePass(c, 'stats', u, C, b, { UPDATE: !!running, COUNT: !!counter }, `${n.name} one pass`)];
    }
    const partials = c.gpu.buffer(groups * C * lanes * 4, `${n.name}.partials`);
    // The first pass also advances num_batches_tracked, bound in the running mean's place (which it does not use).
    return [
      bn(c, 'stats_partial', u, { x: c.buf(n.inputs[0]), out: partials, mean: counter }, [Math.ceil(lanes / 64), C, groups], { COUNT: !!counter },
        `${n.name} partial`),
      bn(c, 'stats_combine', u, { x: partials, out: c.buf(n), mean: running?.mean.ensure(c.gpu), var: running?.var.ensure(c.gpu) }, [Math.ceil(C / 64), 1, 1],
        { UPDATE: !!running }, `${n.name} combine`),
    ];
  },
};

/** Eval-mode statistics: the running mean and variance as [1, 2, C]. */
export const RunningStatsOp: OpDef = {
  type: 'batchnorm_running_stats',
  compile(n, c) {
    const { C, running } = n.attrs as { C: number; running: RunningStats };
    const u = c.uniform(params({ N: 1, C, HW: 1, groups: 1 }), n.name);
    return [bn(c, 'running_stats', u, { out: c.buf(n), mean: running.mean.ensure(c.gpu), var: running.var.ensure(c.gpu) }, [Math.ceil(C / 64), 1, 1])];
  },
};

/** The normalise-and-affine pass; takes a following ReLU into its store (engine/fusion.ts). */
export const NormalizeOp: OpDef = {
  type: 'batchnorm',
  accepts: () => ({ bias: false, relu: true }),
  compile(n, c, epilogue) {
    const [x, stats, gamma, beta] = n.inputs;
    const { N, C, HW, eps, statsGroups } = n.attrs;
    const u = c.uniform(params({ N, C, HW, groups: statsGroups, statsGroups, eps }), n.name);
    const relu = !!epilogue?.relu;
    return [bn(c, 'normalize', u, { x: c.buf(x), stats: c.buf(stats), gamma: c.buf(gamma), shift: c.buf(beta), out: c.buf(n) }, elementGrid(N, C, HW),
      relu ? { RELU: true } : {}, `${n.name}${relu ? '+relu' : ''}`)];
  },
  backward(n, dy) {
    const [x, stats, gamma, beta] = n.inputs;
    const g = n.graph;
    const { N, C, HW, eps, statsGroups, train } = n.attrs;
    const K = g.gradGroups;
    const attrs = { N, C, HW, eps, statsGroups, groups: K, lanes: lanesFor((N / K) * HW) };
    // Filled in below: the pass that combines the sums also stores these two gradients (see ParamGradOp).
    const paramGrads = {} as { gamma: Node; beta: Node };
    const sums = g.op(GradSumsOp, [x, stats, dy], [K, 2, C], { ...attrs, paramGrads }, 'f32', `${n.name}.grad_sums`);
    const dx = g.op(InputGradOp, [x, stats, gamma, dy, sums], x.shape, { ...attrs, train }, 'f32', `${n.name}.dx`);
    const paramGrad = (p: Node, which: number) => {
      const perGroup = p.kind === 'param' && K > 1;
      return g.op(ParamGradOp, [sums], perGroup ? [K, C] : [C], { C, groups: K, which, perGroup }, 'f32', `d${p.name}`);
    };
    paramGrads.gamma = paramGrad(gamma, 1);
    paramGrads.beta = paramGrad(beta, 0);
    return [dx, null, paramGrads.gamma, paramGrads.beta];
  },
};

/**
 * The buffer into which a GradSumsOp's combining pass last stored each of its parameter-gradient nodes, as compiled;
 * a ParamGradOp compiled against that same buffer needs no pass of its own.
 */
const storedByCombine = new WeakMap<Node, GPUBuffer>();

/** Per gradient group and channel: (sum of dy, sum of dy * xhat), shape [K, 2, C]. */
export const GradSumsOp: OpDef = {
  type: 'batchnorm_grad_sums',
  compile(n, c) {
    const [x, stats, dy] = n.inputs;
    const { N, C, HW, eps, statsGroups, groups, lanes } = n.attrs;
    const { gamma: dgamma, beta: dbeta } = n.attrs.paramGrads as { gamma: Node; beta: Node };
    const u = c.uniform(params({ N, C, HW, groups, lanes, statsGroups, eps }), n.name);
    // Both gradients are stored even when the program reads neither: the pass cannot know, and they are C or K*C values.
    const gammaBuf = c.buf(dgamma), betaBuf = c.buf(dbeta);
    storedByCombine.set(dgamma, gammaBuf);
    storedByCombine.set(dbeta, betaBuf);
    const perGroup = { BETA_PER_GROUP: !!dbeta.attrs.perGroup, GAMMA_PER_GROUP: !!dgamma.attrs.perGroup };
    if (onePass(c.gpu, N, HW)) {
      const b = { x: c.buf(x), dy: c.buf(dy), stats: c.buf(stats), out: c.buf(n), mean: betaBuf, var: gammaBuf };
      return [bnOnePass(c, 'grad_sums', u, C, b, perGroup, `${n.name} one pass`)];
    }
    const partials = c.gpu.buffer(groups * C * lanes * 2, `${n.name}.partials`);
    return [
      bn(c, 'grad_partial', u, { x: c.buf(x), dy: c.buf(dy), stats: c.buf(stats), out: partials }, [Math.ceil(lanes / 64), C, groups], {}, `${n.name} partial`),
      bn(c, 'grad_combine', u, { x: partials, out: c.buf(n), mean: betaBuf, var: gammaBuf }, [Math.ceil(C / 64), 1, 1], perGroup, `${n.name} combine`),
    ];
  },
};

export const InputGradOp: OpDef = {
  type: 'batchnorm_input_grad',
  compile(n, c) {
    const [x, stats, gamma, dy, sums] = n.inputs;
    const { N, C, HW, eps, statsGroups, train } = n.attrs;
    const u = c.uniform(params({ N, C, HW, groups: statsGroups, statsGroups, eps }), n.name);
    const b = { x: c.buf(x), dy: c.buf(dy), stats: c.buf(stats), gamma: c.buf(gamma), shift: c.buf(sums), out: c.buf(n) };
    return [bn(c, 'input_grad', u, b, elementGrid(N, C, HW), { TRAIN: !!train }, n.name)];
  },
};

/**
 * Gradient of gamma (which = 1) or beta (which = 0): per group [K, C], or summed to [C]. The combining pass of its
 * input (GradSumsOp) stores it, so it records no dispatch of its own, unless it is compiled against another buffer
 * than that pass wrote (a later compilation of this node alone into a scratch buffer): then it copies or sums the
 * rows of the combined sums itself.
 */
export const ParamGradOp: OpDef = {
  type: 'batchnorm_param_grad',
  compile(n, c) {
    if (storedByCombine.get(n) === c.buf(n)) return [];
    const { C, groups, which, perGroup } = n.attrs;
    const u = c.uniform(params({ N: groups, C, HW: 1, groups, which, sumGroups: !perGroup }), n.name);
    return [bn(c, 'param_grad', u, { x: c.buf(n.inputs[0]), out: c.buf(n) }, [Math.ceil(C / 64), perGroup ? groups : 1, 1], {}, n.name)];
  },
};

// The layers models are built of, as PyTorch's nn modules (names, shapes and initialisation): Conv2d, BatchNorm2d,
// Linear, Dropout, and the Registry that lists a model's parameters and buffers in state_dict order.
import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { conv2d, Pair } from '../engine/ops/conv2d.js';
import { batchNorm2d } from '../engine/ops/batchnorm.js';
import { dropout, DropoutState } from '../engine/ops/dropout.js';
import { matmul } from '../engine/ops/matmul.js';
import { addBias } from '../engine/ops/bias.js';
import { initValues, uniformFanIn, normal, kaimingNormalFanOut, glorotNormalCG, zeros, ones, InitScheme } from '../engine/init.js';

/**
 * Weight initialisation of a whole model: 'pytorch' follows each model's PyTorch/torchvision definition
 * (the layer's WeightRule), 'glorot-cg' uses N(0,1)*2/sqrt(fan_in+fan_out) with zero biases for every conv
 * and linear layer, 'none' leaves weights and biases at zero (for counting parameters or before loading a
 * checkpoint; batch-norm scales are 1 either way).
 */
export type WeightInit = InitScheme | 'none';

/** How a layer's weights start under the 'pytorch' scheme. */
export type WeightRule =
  /** PyTorch's module default: weight and bias uniform in ±1/sqrt(fan_in). */
  | 'default'
  /** kaiming_normal_(mode='fan_out', nonlinearity='relu'), bias 0 (torchvision ResNet and VGG convs). */
  | 'kaiming-fan-out'
  /** N(0, std²), bias 0 (torchvision VGG classifier: std 0.01). */
  | { normal: number }
  /** Normal truncated at ±2 std (scipy truncnorm(-2, 2)), bias left at the default (torchvision Inception). */
  | { truncNormal: number };

export class Init {
  constructor(readonly rng: Rng, readonly scheme: WeightInit = 'pytorch') {}

  weight(rule: WeightRule, n: number, fanIn: number, fanOut: number): Float32Array {
    if (this.scheme === 'none') return zeros(n);
    if (this.scheme === 'glorot-cg') return glorotNormalCG(this.rng, n, fanIn, fanOut);
    if (rule === 'default') return uniformFanIn(this.rng, n, fanIn);
    if (rule === 'kaiming-fan-out') return kaimingNormalFanOut(this.rng, n, fanOut);
    if ('normal' in rule) return normal(this.rng, n, rule.normal);
    return truncatedNormal(this.rng, n, rule.truncNormal);
  }

  bias(rule: WeightRule, n: number, fanIn: number): Float32Array {
    if (this.scheme !== 'pytorch') return zeros(n);
    return rule === 'default' || (typeof rule === 'object' && 'truncNormal' in rule) ? uniformFanIn(this.rng, n, fanIn) : zeros(n);
  }
}

function truncatedNormal(rng: Rng, n: number, std: number): Float32Array {
  const a = initValues(n);
  for (let i = 0; i < n; i++) {
    let z = rng.normal();
    while (Math.abs(z) > 2) z = rng.normal();
    a[i] = z * std;
  }
  return a;
}

/**
 * num_batches_tracked: an integer in PyTorch (int64, shape []), held here as a one-element float32 buffer,
 * exact up to 2^24 = 16.7M batches. Checkpoints store it as I64 with shape [], as torchvision's state_dict does
 * (`safetensorsDtype`); readers convert it to and from the float32 buffer.
 */
export class BatchCounter extends Parameter {
  override readonly safetensorsDtype = 'I64' as const;
  constructor(name: string) { super(name, [], zeros(1)); }
}

/** Runs `build` and prefixes any error with the layer name and its input shape, so messages say where. */
export function atLayer<T>(layer: string, x: Node, build: () => T): T {
  try {
    return build();
  } catch (e) {
    throw new Error(`${layer} (input [${x.shape}]): ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Anything that owns parameters (and possibly buffers), in PyTorch's state_dict order. */
export interface Module { parameters(): Parameter[]; buffers?(): Parameter[] }

/** Collects modules' parameters and buffers in registration order. */
export class Registry {
  private readonly modules: Module[] = [];
  add<T extends Module>(m: T): T { this.modules.push(m); return m; }
  parameters(): Parameter[] { return this.modules.flatMap((m) => m.parameters()); }
  buffers(): Parameter[] { return this.modules.flatMap((m) => m.buffers?.() ?? []); }
}

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean; rule?: WeightRule }

/** nn.Conv2d: weight [out, in/groups, kh, kw] and optional bias [out]. */
export class Conv2d implements Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(readonly name: string, readonly inChannels: number, readonly outChannels: number, kernel: Pair, init: Init, readonly opts: Conv2dOptions = {}) {
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const groups = opts.groups ?? 1;
    const rule = opts.rule ?? 'default';
    const fanIn = (inChannels / groups) * kh * kw;
    const fanOut = outChannels * kh * kw;
    const shape = [outChannels, inChannels / groups, kh, kw];
    this.weight = new Parameter(`${name}.weight`, shape, init.weight(rule, shape.reduce((a, b) => a * b, 1), fanIn, fanOut));
    this.bias = opts.bias === false ? null : new Parameter(`${name}.bias`, [outChannels], init.bias(rule, outChannels, fanIn));
  }
  parameters(): Parameter[] { return this.bias ? [this.weight, this.bias] : [this.weight]; }
  apply(g: Graph, x: Node): Node {
    if (x.shape.length !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(`${this.name}: expects input [N, ${this.inChannels}, H, W], got [${x.shape}]; check the input channels`);
    }
    const { stride, padding, dilation, groups } = this.opts;
    return atLayer(this.name, x, () => conv2d(x, g.param(this.weight), this.bias ? g.param(this.bias) : null, { stride, padding, dilation, groups }));
  }
}

/** nn.BatchNorm2d with affine weight/bias and running statistics (torchvision init: weight 1, bias 0). */
export class BatchNorm2d implements Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  readonly numBatchesTracked: BatchCounter;
  constructor(readonly name: string, readonly channels: number, readonly opts: { eps?: number; momentum?: number } = {}) {
    this.weight = new Parameter(`${name}.weight`, [channels], ones(channels));
    this.bias = new Parameter(`${name}.bias`, [channels], zeros(channels));
    this.runningMean = new Parameter(`${name}.running_mean`, [channels], zeros(channels));
    this.runningVar = new Parameter(`${name}.running_var`, [channels], ones(channels));
    this.numBatchesTracked = new BatchCounter(`${name}.num_batches_tracked`);
  }
  parameters(): Parameter[] { return [this.weight, this.bias]; }
  buffers(): Parameter[] { return [this.runningMean, this.runningVar, this.numBatchesTracked]; }
  apply(g: Graph, x: Node): Node {
    const running = { mean: this.runningMean, var: this.runningVar, batchesTracked: this.numBatchesTracked, momentum: this.opts.momentum ?? 0.1 };
    return batchNorm2d(x, g.param(this.weight), g.param(this.bias), { eps: this.opts.eps ?? 1e-5, running, name: this.name });
  }
}

/** nn.Linear, y = x Wᵀ + b, with the initial values of the model's rule: weight [out, in], bias [out]. */
export class Linear implements Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly name: string, readonly inFeatures: number, readonly outFeatures: number, init: Init, rule: WeightRule = 'default') {
    this.weight = new Parameter(`${name}.weight`, [outFeatures, inFeatures], init.weight(rule, inFeatures * outFeatures, inFeatures, outFeatures));
    this.bias = new Parameter(`${name}.bias`, [outFeatures], init.bias(rule, outFeatures, inFeatures));
  }
  parameters(): Parameter[] { return [this.weight, this.bias]; }
  /** x [N, in] or [N, ...] flattened. */
  apply(g: Graph, x: Node): Node {
    const flat = x.shape.length === 2 ? x : g.view(x, [x.shape[0], x.size / x.shape[0]]);
    if (flat.shape[1] !== this.inFeatures) throw new Error(`${this.name}: expects ${this.inFeatures} input features, got input [${x.shape}]`);
    return addBias(matmul(flat, g.param(this.weight), { transB: true }), g.param(this.bias));
  }
}

/** nn.Dropout(p): seeded from the model's generator; the mask sequence continues across programs. */
export class Dropout {
  readonly seed: number;
  readonly state = new DropoutState();
  constructor(readonly p: number, rng: Rng) { this.seed = rng.nextU32(); }
  apply(_g: Graph, x: Node): Node { return dropout(x, this.p, this.seed, this.state); }
}

/** Output channels scaled by a width multiplier (at least 1). */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

import { Gpu, Dispatch, words, f32 } from './gpu.js';
import { Graph, Node, Parameter } from './graph.js';
import type { Program } from './program.js';
import { grid1d } from './ops/grid.js';

/** One parameter's gradient as the step sees it. */
export interface GradSlot {
  param: Parameter;
  /** The parameter's node in the training graph (key of graph.perExample). */
  node: Node;
  /** The graph's gradient: `groups` slices of `size` values that sum to the mean-loss gradient. */
  raw: GPUBuffer;
  /** Where the combined gradient goes (may be `raw` itself when groups = 1 and nothing is combined). */
  out: GPUBuffer;
  size: number;
}

/**
 * A hook between the backward pass and the update: combines each parameter's raw (possibly grouped)
 * gradient into the one gradient the optimizer applies. The engine's default sums the groups.
 */
export interface GradientTransform {
  readonly name: string;
  /** How many batch groups the weight-gradient kernels must reduce separately. */
  readonly groups: number;
  /** Whether weight decay is added before the transform (to the raw gradient) or after it. */
  readonly decay: 'before' | 'after';
  /** True when `out` must be a separate buffer even with one group. */
  readonly needsOut?: boolean;
  /**
   * Before compilation: graph nodes the transform reads besides the gradients (kept computed), and the
   * parameters whose gradient it never reads (not computed; their `raw` buffer is then only a target).
   */
  attach?(g: Graph, slots: { param: Parameter; node: Node; grad: Node }[]): { keep: Node[]; unread: Parameter[] };
  /** Record the transform's dispatches, reading `slot.raw` (and attached nodes through `program`) into `slot.out`. */
  compile(gpu: Gpu, slots: GradSlot[], program: Program): Dispatch[];
  /** Called before each step is submitted (uniforms such as a ring position may change). */
  prepare?(step: number): void;
  /** Buffers to save in checkpoints, by name. */
  state?(): { name: string; buffer: GPUBuffer; size: number }[];
}

export interface SgdOptions { lr: number; momentum: number; weightDecay: number; dampening?: number }

/** The default transform: the sum of the group slices (the mean gradient of the batch). */
export class SumGroups implements GradientTransform {
  readonly name = 'sum';
  readonly decay = 'before' as const;
  constructor(readonly groups = 1) {}
  compile(gpu: Gpu, slots: GradSlot[], _program: Program): Dispatch[] {
    if (this.groups === 1) return [];
    return slots.map((s) => {
      const u = gpu.uniform(words([1, this.groups, s.size, f32(1)])); // [1, groups, size] summed over groups
      return gpu.dispatch(gpu.kernel('reduce', 'sum_middle'), [u, s.raw, s.out], [Math.ceil(s.size / 64), 1, 1], `sum groups ${s.param.name}`);
    });
  }
}

/** The buffers bound to an update's second slot when it has no parameter (its size is 0, so nothing reads them). */
function emptySlot(gpu: Gpu): GPUBuffer[] {
  return [gpu.unused('sgd weight'), gpu.unused(), gpu.unused('sgd momentum')];
}

/** vec4s per invocation of shaders/sgd.wgsl (its PER_INVOCATION). */
const SGD_VEC4_PER_INVOCATION = 4;

/**
 * SGD with PyTorch's momentum, dampening and weight decay, preceded by a gradient transform.
 * All dispatches are recorded once; the learning rate and the first-step flag are uniforms.
 */
export class Sgd {
  readonly dispatches: Dispatch[] = [];
  private uniforms: GPUBuffer[] = [];
  readonly momentumBuffers: GPUBuffer[] = [];
  private lr: number;
  private first = true;
  /** Weight decay the update kernel adds to the gradient (0 where a separate pass adds it). */
  private readonly decayInUpdate: number;

  constructor(readonly gpu: Gpu, readonly slots: GradSlot[], readonly opts: SgdOptions, readonly transform: GradientTransform, program: Program) {
    this.lr = opts.lr;
    const decay = (s: GradSlot, target: GPUBuffer, groups: number) => {
      const u = gpu.uniform(words([s.size, grid1d(s.size).rowStride, groups, f32(opts.weightDecay)]));
      return gpu.dispatch(gpu.kernel('weight_decay'), [u, s.param.ensure(gpu), target], grid1d(s.size).grid, `decay ${s.param.name}`);
    };
    const combine = transform.compile(gpu, slots, program);
    // Where the decayed gradient would go straight into the update (decay after the transform, or before one that does
    // nothing), the update adds the decay itself: one pass over the parameters fewer, and the gradient buffers are
    // left as the backward pass wrote them.
    const inUpdate = opts.weightDecay !== 0 && (transform.decay === 'after' || (combine.length === 0 && slots.every((s) => s.out === s.raw)));
    if (opts.weightDecay !== 0 && !inUpdate && transform.decay === 'before') this.dispatches.push(...slots.map((s) => decay(s, s.raw, transform.groups)));
    this.dispatches.push(...combine);
    if (opts.weightDecay !== 0 && !inUpdate && transform.decay === 'after') this.dispatches.push(...slots.map((s) => decay(s, s.out, 1)));
    this.decayInUpdate = inUpdate ? opts.weightDecay : 0;
    for (const s of slots) this.momentumBuffers.push(gpu.buffer(opts.momentum !== 0 ? s.size : 4, `${s.param.name}.momentum_buffer`));
    // Two parameters per update dispatch (shaders/sgd.wgsl), each paired with the next in size so that neither waits
    // long for the other: a step's fixed cost per dispatch would otherwise dominate for the many small ones.
    const bySize = slots.map((_, i) => i).sort((a, b) => slots[b].size - slots[a].size);
    for (let k = 0; k < bySize.length; k += 2) {
      const pair = bySize.slice(k, k + 2);
      const u = gpu.uniform(this.params(pair.map((i) => slots[i].size)));
      this.uniforms.push(u);
      const buffers = pair.flatMap((i) => [slots[i].param.ensure(gpu), slots[i].out, this.momentumBuffers[i]]);
      if (pair.length === 1) buffers.push(...emptySlot(gpu));
      const grid = grid1d(Math.ceil(slots[pair[0]].size / (4 * SGD_VEC4_PER_INVOCATION))).grid;
      this.dispatches.push(gpu.dispatch(gpu.kernel('sgd', 'step'), [u, ...buffers], grid, `sgd ${pair.map((i) => slots[i].param.name).join(' + ')}`));
    }
  }

  /** The update's uniform block for a pair of parameters of `sizes` values (the second absent: an empty slot). */
  private params(sizes: number[]): ArrayBuffer {
    const o = this.opts;
    const n4 = (n: number | undefined) => Math.ceil((n ?? 0) / 4);
    return words([n4(sizes[0]), n4(sizes[1]), 0, this.first ? 1 : 0, f32(this.lr), f32(o.momentum), f32(o.dampening ?? 0), f32(this.decayInUpdate)]);
  }

  /** Set the learning rate and first-step flag for the next step (rewrites the small uniforms only when they change). */
  prepare(step: number, lr: number, firstStep: boolean): void {
    this.transform.prepare?.(step);
    if (lr === this.lr && firstStep === this.first) return;
    this.lr = lr;
    this.first = firstStep;
    // Words 3 and 4 of each uniform block are `first` and `lr`.
    const patch = new ArrayBuffer(8);
    new Uint32Array(patch, 0, 1)[0] = firstStep ? 1 : 0;
    new Float32Array(patch, 4, 1)[0] = lr;
    for (const u of this.uniforms) this.gpu.device.queue.writeBuffer(u, 12, patch);
  }
}

import { Gpu, Dispatch, words } from '../../engine/gpu.js';
import * as kernels from './kernels.js';
import { momentumWarning, type GradientRule } from './rule.js';
import type { GradientTransform, GradSlot } from '../../engine/optim.js';
import { grid1d } from '../../engine/ops/grid.js';

/**
 * RA3 and RM3: the update is the coordinate-wise mean (RA3) or median (RM3) of this step's gradient and
 * the previous two steps' gradients, kept in a GPU ring per parameter (rolling.wgsl).
 *
 * The authors' choices, kept here: the ring starts as three copies of the first gradient and no update is
 * made until three gradients exist (steps 0 and 1 leave the weights unchanged with momentum 0); weight
 * decay is added to the gradient before it enters the ring, so the median is of g + wd·w.
 * The median of three is taken exactly as the middle value (the authors' sum − min − max is the same
 * number up to rounding).
 */
export class Rolling3 implements GradientTransform {
  readonly groups = 1;
  readonly decay = 'before' as const;
  readonly name: 'ra3' | 'rm3';
  private rings: { name: string; buffer: GPUBuffer; size: number }[] = [];
  private stepUniform: GPUBuffer | null = null;
  private gpu: Gpu | null = null;
  private lastStep = -1;

  constructor(readonly combine: 'mean' | 'median') {
    this.name = combine === 'mean' ? 'ra3' : 'rm3';
  }

  compile(gpu: Gpu, slots: GradSlot[]): Dispatch[] {
    this.gpu = gpu;
    this.stepUniform = gpu.uniform(words([0, 0, 0, 0]), `${this.name} step`);
    const kernel = gpu.kernel(kernels.rolling, 'main', { MEDIAN: this.combine === 'median' });
    return slots.map((s) => {
      if (s.out !== s.raw) throw new Error(`${this.name}: expects to combine ${s.param.name}'s gradient in place (one group, no separate output)`);
      // The kernel moves vec4s: the ring's slots are n4 vec4s apart, and the gradient buffer (allocated in
      // multiples of 16 bytes) is read and written up to its padding.
      const n4 = Math.ceil(s.size / 4);
      const ring = gpu.buffer(3 * 4 * n4, `${s.param.name}.${this.name}_ring`);
      this.rings.push({ name: `${s.param.name}.${this.name}_ring`, buffer: ring, size: 3 * 4 * n4 });
      const { grid, rowStride } = grid1d(n4);
      const u = gpu.uniform(words([n4, rowStride, 0, 0]));
      return gpu.dispatch(kernel, [u, this.stepUniform!, s.out, ring], grid, `${this.name} ${s.param.name}`);
    });
  }

  /** `step` is the global step index: the ring slot is step mod 3, and steps 0 and 1 are the warm-up. */
  prepare(step: number): void {
    if (!this.gpu || !this.stepUniform || step === this.lastStep) return;
    this.lastStep = step;
    this.gpu.write(this.stepUniform, new Uint32Array([step % 3, Math.min(step, 2), 0, 0]));
  }

  state() { return this.rings; }
}

const ROLLING_NOTE = `RA3/RM3 follow the authors' code: the ring of gradients starts as three copies of the
first one and no update is made until three gradients exist, so steps 0 and 1 leave the
weights unchanged; weight decay is added to each gradient before it is buffered.`;

function rollingRule(name: 'ra3' | 'rm3', help: string): GradientRule {
  return {
    name, help, options: [], stateSuffixes: [`${name}_ring`], suppresses: true,
    validate: () => {},
    create: () => new Rolling3(name === 'ra3' ? 'mean' : 'median'),
    warnings: momentumWarning,
  };
}

export const ra3Rule = rollingRule('ra3', 'rolling average of 3: the mean of this step\'s gradient and the previous two steps\'.');
export const rm3Rule = rollingRule('rm3', `rolling median of 3: their coordinate-wise median (the middle value).\n${ROLLING_NOTE}`);

import { Gpu, Dispatch, words, f32 } from '../../engine/gpu.js';
import * as kernels from './kernels.js';
import type { GradientTransform, GradSlot } from '../../engine/optim.js';
import { grid1d } from '../../engine/ops/grid.js';
import { MAX_GROUPS } from './m3.js';

/**
 * The paper's serial implementation of M3: each trainer step is one micro-batch (batch / K examples);
 * micro-batch gradients are kept in a GPU ring, the first K − 1 of each cycle give a zero update, and the
 * K-th gives the coordinate-wise median of all K (median.wgsl `serial`). With momentum 0 the
 * weights do not change inside a cycle, so this equals one-pass M3 on the concatenated batch.
 *
 * Weight decay is added before buffering (it cannot be added after: the zero updates would decay).
 * The cycle position is the global step mod K.
 */
export class SerialM3 implements GradientTransform {
  readonly name = 'm3-serial';
  readonly groups = 1;
  readonly decay = 'before' as const;
  private rings: { name: string; buffer: GPUBuffer; size: number }[] = [];
  private stepUniform: GPUBuffer | null = null;
  private gpu: Gpu | null = null;
  private lastStep = -1;

  constructor(readonly micro: number) {
    if (!Number.isInteger(micro) || micro < 1 || micro > MAX_GROUPS) throw new Error(`serial m3: groups must be an integer in 1..${MAX_GROUPS}, got ${micro}`);
  }

  compile(gpu: Gpu, slots: GradSlot[]): Dispatch[] {
    this.gpu = gpu;
    this.stepUniform = gpu.uniform(words([0, 0, 0, 0]), 'serial m3 step');
    const kernel = gpu.kernel(kernels.median, 'serial', { K: this.micro });
    const unused = [gpu.buffer(4, 'unused'), gpu.buffer(4, 'unused')];
    return slots.map((s) => {
      if (s.out !== s.raw) throw new Error(`serial m3: expects to combine ${s.param.name}'s gradient in place (one group, no separate output)`);
      // The kernel moves vec4s: ring slots are n4 vec4s apart; the gradient buffer is used up to its padding.
      const n4 = Math.ceil(s.size / 4);
      const size = (this.micro - 1) * 4 * n4;
      const ring = gpu.buffer(Math.max(1, size), `${s.param.name}.m3_ring`);
      this.rings.push({ name: `${s.param.name}.m3_ring`, buffer: ring, size });
      const { grid, rowStride } = grid1d(n4);
      const u = gpu.uniform(words([n4, rowStride, f32(1), 0]));
      return gpu.dispatch(kernel, [u, this.stepUniform!, ring, s.out, ...unused], grid, `serial m3 ${s.param.name}`);
    });
  }

  prepare(step: number): void {
    if (!this.gpu || !this.stepUniform || step === this.lastStep) return;
    this.lastStep = step;
    this.gpu.write(this.stepUniform, new Uint32Array([step % this.micro, 0, 0, 0]));
  }

  state() { return this.rings.filter((r) => r.size > 0); }
}

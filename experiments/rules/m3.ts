import { Gpu, Dispatch, words, f32 } from '../../engine/gpu.js';
import type { GradientTransform, GradSlot } from '../../engine/optim.js';
import { grid1d } from '../../engine/ops/grid.js';

/** Largest K the median kernels support (shaders/median.wgsl MAX_K). */
export const MAX_GROUPS = 64;

/**
 * M3 as the paper describes it, in one pass: the batch is split into K equal groups, and the update is
 * the coordinate-wise median of the K groups' mean gradients (K odd: the middle value; K even: the mean
 * of the two middle values). The trainer sets graph.gradGroups = K, so every weight-gradient kernel
 * reduces each group separately; the raw gradient is K slices that sum to the batch mean, so a group's
 * mean gradient is K times its slice. Batch-norm layers normalise each group with its own statistics,
 * which makes one pass equal to K separate micro-batches.
 *
 * Weight decay is added after the median (the same number as before it, since adding wd·w to every group
 * shifts the median by wd·w, and once instead of K times).
 */
export class OnePassM3 implements GradientTransform {
  readonly name = 'm3';
  readonly decay = 'after' as const;
  readonly needsOut = true;

  constructor(readonly groups: number) {
    if (!Number.isInteger(groups) || groups < 1 || groups > MAX_GROUPS) throw new Error(`m3: groups must be an integer in 1..${MAX_GROUPS}, got ${groups}`);
  }

  compile(gpu: Gpu, slots: GradSlot[]): Dispatch[] {
    const unused = [gpu.buffer(4, 'unused'), gpu.buffer(4, 'unused')];
    return slots.map((s) => {
      // Four values per invocation when every slice starts on a vec4 boundary.
      const four = s.size % 4 === 0;
      const n = four ? s.size / 4 : s.size;
      const { grid, rowStride } = grid1d(n);
      const u = gpu.uniform(words([n, rowStride, f32(this.groups), 0]));
      const kernel = gpu.kernel('median', four ? 'groups4' : 'groups', { K: this.groups });
      const buffers = four ? [s.raw, s.out, ...unused] : [...unused, s.raw, s.out];
      return gpu.dispatch(kernel, [u, u, ...buffers], grid, `m3 ${s.param.name}`);
    });
  }
}

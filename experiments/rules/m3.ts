import { Gpu, Dispatch, words, f32 } from '../../engine/gpu.js';
import * as kernels from './kernels.js';
import { momentumWarning, RuleError, type GradientRule } from './rule.js';
import { SerialM3 } from './serial-m3.js';
import type { GradientTransform, GradSlot } from '../../engine/optim.js';
import { grid1d } from '../../engine/ops/grid.js';

/** Largest K the median kernels support (median.wgsl MAX_K). */
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
      const kernel = gpu.kernel(kernels.median, four ? 'groups4' : 'groups', { K: this.groups });
      const buffers = four ? [s.raw, s.out, ...unused] : [...unused, s.raw, s.out];
      return gpu.dispatch(kernel, [u, u, ...buffers], grid, `m3 ${s.param.name}`);
    });
  }
}

export const m3Rule: GradientRule = {
  name: 'm3',
  help: `median of means, as the paper describes it: the batch is split into K equal groups
(--groups K, default 3, must divide the batch) and the update is the coordinate-wise
median of the groups' mean gradients (K even: the mean of the two middle values).
--m3-mode one-pass (default) does this in one forward/backward pass, the weight-gradient
kernels reducing each group separately, with batch norm normalising each group on its own
statistics; --m3-mode serial runs the K micro-batches of batch/K as K steps, updating on the
last (needs momentum 0). Weight decay shifts every group equally, so it enters the median
unchanged. The authors' code differs: it takes the median of 3 consecutive full mini-batches,
one update per 3 batches.`,
  options: ['groups', 'm3Mode'],
  stateSuffixes: ['m3_ring'],
  suppresses: true,
  validate: (o) => {
    const K = o.groups, B = o.batchSize;
    if (!Number.isInteger(K) || K < 1 || K > MAX_GROUPS || B % K !== 0) {
      const divisors = [];
      for (let d = 1; d <= Math.min(B, MAX_GROUPS); d++) if (B % d === 0) divisors.push(d);
      throw new RuleError(`--groups ${K} does not split the batch of ${B} into equal groups: use a divisor of ${B} in 1..${MAX_GROUPS} `
        + `(${divisors.join(', ')})`);
    }
    if (o.m3Mode !== 'one-pass' && o.m3Mode !== 'serial') throw new RuleError(`unknown M3 mode '${o.m3Mode}': use one-pass or serial`);
    if (o.m3Mode === 'serial' && o.momentum !== 0) {
      throw new RuleError(`serial M3 needs --momentum 0 (got ${o.momentum}): the weights must not move between its micro-batches; use --m3-mode one-pass `
        + `for momentum`);
    }
  },
  create: (o) => (o.m3Mode === 'serial' ? new SerialM3(o.groups) : new OnePassM3(o.groups)),
  trainerBatchSize: (o) => (o.m3Mode === 'serial' ? o.batchSize / o.groups : o.batchSize),
  stepsPerUpdate: (o) => (o.m3Mode === 'serial' ? o.groups : 1),
  warnings: (o) => [
    ...momentumWarning(o),
    ...(o.groups === 1 ? ['m3 with --groups 1 is plain SGD'] : []),
    ...(o.groups === 2 ? ['m3 with --groups 2 is plain SGD (the median of two is their mean)'] : []),
  ],
};

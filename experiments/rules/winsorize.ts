import { Gpu, Dispatch, words } from '../../engine/gpu.js';
import * as kernels from './kernels.js';
import { RuleError, type GradientRule } from './rule.js';
import type { GradientTransform, GradSlot } from '../../engine/optim.js';
import type { Program } from '../../engine/program.js';
import { grid1d } from '../../engine/ops/grid.js';
import type { Graph, Node, Parameter } from '../../engine/graph.js';
import { factorsOf, perExampleOf, LateCompiler, PerExample } from './per-example.js';

/** Largest winsorization level the kernel supports (winsorize.wgsl MAX_L − 1). */
export const MAX_WINSOR = 32;

/**
 * Winsorization (the paper's Appendix B): for each coordinate, each of the B per-example gradient values
 * is clipped to lie between the (s+1)-th smallest and the (s+1)-th largest of them, and the clipped values
 * are summed. The per-example gradients are of the mean loss (see per-example.ts), so the sum is the
 * winsorized mean of the examples' own gradients, and s = 0 is SGD's gradient up to rounding.
 *
 * Dense layers are done from their factors in a fused kernel (never the B x P tensor, nor the batch gradient,
 * which is not computed for them); other parameters
 * get per-example gradients materialised one parameter at a time into shared buffers (per-example.ts
 * LateCompiler: B x the largest such parameter, plus the largest intermediates).
 * Weight decay is added after winsorization, to the combined gradient, as PyTorch's SGD adds it to
 * whatever gradient it is given.
 */
export class Winsorize implements GradientTransform {
  readonly name = 'winsorize';
  readonly groups = 1;
  readonly decay = 'after' as const;

  constructor(readonly s: number, readonly batchSize: number) {
    if (!Number.isInteger(s) || s < 0 || s > MAX_WINSOR || 2 * s + 1 >= batchSize) {
      throw new Error(`winsorize: s must be an integer in 0..${Math.min(MAX_WINSOR, Math.floor((batchSize - 2) / 2))} for a batch of ${batchSize}, got ${s}`);
    }
  }

  /** Dense layers and biases are winsorized from their factors, so their batch gradients are never computed. */
  attach(g: Graph, slots: { param: Parameter; node: Node }[]): { keep: Node[]; unread: Parameter[] } {
    const keep: Node[] = [], unread: Parameter[] = [];
    for (const s of slots) {
      const f = factorsOf(g, s.node, this.batchSize);
      if (!f) continue;
      unread.push(s.param);
      if (f.kind === 'outer') keep.push(f.x, f.dy);
      if (f.kind === 'rows') keep.push(f.dy);
    }
    return { keep, unread };
  }

  compile(gpu: Gpu, slots: GradSlot[], program: Program): Dispatch[] {
    const B = this.batchSize;
    const sources = slots.map((s) => perExampleOf(program.graph, s.node, B));
    const late = new LateCompiler(gpu, program, sources.flatMap((p) => (p.kind === 'materialized' ? [p.grad] : [])));
    const out: Dispatch[] = [];
    slots.forEach((slot, i) => out.push(...winsorizeDispatches(gpu, sources[i], slot.out, this.s, B, program, late, slot.param.name)));
    return out;
  }
}

/** The dispatches writing the winsorized sum of one parameter's per-example gradients into `target`. */
export function winsorizeDispatches(gpu: Gpu, src: PerExample, target: GPUBuffer, s: number, B: number, program: Program, late: LateCompiler | null,
  name: string): Dispatch[] {
  switch (src.kind) {
    case 'outer':
      return [winsorizeOuter(gpu, program.buf(src.x), program.buf(src.dy), target, src.rows, src.cols, B, s, name)];
    case 'rows':
      return [winsorizeColumns(gpu, program.buf(src.dy), target, src.n, B, s, name)];
    case 'materialized': {
      if (!late) throw new Error(`winsorize ${name}: materialised per-example gradients need a LateCompiler`);
      const { dispatches, buffer } = late.compile(src.grad);
      return [...dispatches, winsorizeColumns(gpu, buffer, target, src.n, B, s, name)];
    }
    case 'zero':
      // Rewritten every step: weight decay, added after the rule, must not accumulate in a constant buffer.
      return [winsorizeColumns(gpu, gpu.buffer(4, 'unused'), target, src.n, 0, 0, name)];
  }
}

/** target [rows, cols] = winsorized sum over b of dy[b, :] ⊗ x[b, :] (x [B, cols], dy [B, rows]). */
export function winsorizeOuter(gpu: Gpu, x: GPUBuffer, dy: GPUBuffer, target: GPUBuffer, rows: number, cols: number, B: number, s: number,
  name = ''): Dispatch {
  const u = gpu.uniform(words([B, rows, cols, 0]));
  return gpu.dispatch(gpu.kernel(kernels.winsorize, 'dense', { S: s }), [u, x, dy, target], [Math.ceil(cols / 64), Math.ceil(rows / 4), 1],
    `winsorize ${name}`);
}

/** target [n] = winsorized sum over b of values[b, :] (values [B, n]). */
export function winsorizeColumns(gpu: Gpu, values: GPUBuffer, target: GPUBuffer, n: number, B: number, s: number, name = ''): Dispatch {
  const { grid, rowStride } = grid1d(Math.ceil(n / 4));
  const u = gpu.uniform(words([B, 1, n, rowStride]));
  return gpu.dispatch(gpu.kernel(kernels.winsorize, 'columns', { S: s }), [u, values, values, target], grid, `winsorize ${name}`);
}

export const winsorizeRule: GradientRule = {
  name: 'winsorize',
  help: `the paper's Appendix B: in every coordinate each example's gradient is clipped to lie
between the (s+1)-th smallest and (s+1)-th largest of the batch's (--winsor s, 2s+1 below
the batch) and the clipped values are summed. Per-example gradients are of the mean loss, so
the sum is the winsorized mean of the examples' gradients and s = 0 is SGD; with batch norm
they are each example's term of the whole-batch gradient (statistics of the whole batch).
Weight decay is added after winsorizing.`,
  options: ['winsor'],
  stateSuffixes: [],
  suppresses: false,
  validate: (o) => {
    const s = o.winsor, B = o.batchSize;
    const most = Math.min(MAX_WINSOR, Math.floor((B - 2) / 2));
    if (!Number.isInteger(s) || s < 0 || 2 * s + 1 >= B || s > MAX_WINSOR) {
      throw new RuleError(most < 0
        ? `--winsor needs a batch of at least 2, got ${B}`
        : `--winsor ${s} is out of range for a batch of ${B} (2s+1 must be below the batch, s at most ${MAX_WINSOR}): use 0..${most}`);
    }
  },
  create: (o) => new Winsorize(o.winsor, o.batchSize),
};

import { Gpu, Dispatch, words } from '../../engine/gpu.js';
import * as kernels from './kernels.js';
import type { Node, Parameter } from '../../engine/graph.js';
import type { Program } from '../../engine/program.js';
import type { Trainer } from '../../engine/trainer.js';
import { grid1d } from '../../engine/ops/grid.js';
import { perExampleOf, LateCompiler, PerExample } from './per-example.js';

export interface CoherenceReading {
  /** m-coherence of the batch: ||sum_b g_b||^2 / sum_b ||g_b||^2; 1 for orthogonal, B for identical per-example gradients (NaN if all are zero). */
  coherence: number;
  /** ||sum_b g_b||^2 over all parameters (g_b per-example gradients of the mean loss, see per-example.ts). */
  normOfSum: number;
  /** sum_b ||g_b||^2 over all parameters. */
  sumOfNorms: number;
  batch: number;
  byParameter: { name: string; normOfSum: number; sumOfNorms: number }[];
}

/**
 * The m-coherence of the last training step's batch (Chatterjee and Zielinski, 2020), measured after the
 * step from the buffers it left behind: the dense layers' per-example factors (x_b, dy_b) through their
 * B x B Gram matrices, never forming per-example gradients; other parameters from per-example gradients
 * materialised one parameter at a time (per-example.ts). It submits its own command buffer and reads back
 * two numbers per parameter, so call it at log intervals, after `trainer.step` and before the next one.
 *
 * The per-example gradients are those of the loss at the weights the step's forward pass used; parameters
 * whose weight-gradient formula reads the parameter itself would see the updated value (dense layers,
 * convolutions and batch-norm affine parameters do not).
 */
export class CoherenceProbe {
  private dispatches: Dispatch[] | null = null;
  private result: GPUBuffer | null = null;

  constructor(readonly gpu: Gpu, readonly program: Program, readonly params: { param: Parameter; node: Node }[], readonly batchSize: number) {}

  private build(): Dispatch[] {
    const { gpu, program } = this;
    const B = this.batchSize;
    const sources: PerExample[] = this.params.map((p) => perExampleOf(program.graph, p.node, B));
    const biggest = Math.max(0, ...sources.map((s) => (s.kind === 'materialized' ? s.n : 0)));
    const blocks = Math.ceil(B / 4); // the pairs kernel's 4 x 4 blocks of example pairs per side
    const partialPairs = Math.max(blocks * blocks, biggest > 0 ? grid1d(biggest).grid[0] * grid1d(biggest).grid[1] : 0);
    const partial = gpu.buffer(2 * partialPairs, 'coherence partial sums');
    this.result = gpu.buffer(2 * this.params.length, 'coherence');
    const late = new LateCompiler(gpu, program, sources.flatMap((s) => (s.kind === 'materialized' ? [s.grad] : [])));
    const unused = gpu.buffer(4, 'unused');
    const out: Dispatch[] = [];
    sources.forEach((src, slot) => {
      const name = `coherence ${this.params[slot].param.name}`;
      const reduce = (count: number) => {
        const u = gpu.uniform(words([B, 0, 0, 0, count, slot, 0, 0]));
        return gpu.dispatch(gpu.kernel(kernels.coherence, 'reduce'), [u, unused, unused, partial, this.result!], [1, 1, 1], name);
      };
      const pairs = (x: GPUBuffer, dy: GPUBuffer, rows: number, cols: number) => {
        const u = gpu.uniform(words([B, rows, cols, 0, 0, slot, 0, 0]));
        const grid = [Math.ceil(blocks / 8), Math.ceil(blocks / 8), 1];
        return [gpu.dispatch(gpu.kernel(kernels.coherence, 'pairs'), [u, x, dy, partial, this.result!], grid, name), reduce(blocks * blocks)];
      };
      if (src.kind === 'outer') out.push(...pairs(program.buf(src.x), program.buf(src.dy), src.rows, src.cols));
      else if (src.kind === 'rows') out.push(...pairs(unused, program.buf(src.dy), src.n, 0));
      else if (src.kind === 'materialized') {
        const { dispatches, buffer } = late.compile(src.grad);
        const { grid, rowStride } = grid1d(src.n);
        const u = gpu.uniform(words([B, 0, src.n, rowStride, 0, slot, 0, 0]));
        out.push(...dispatches, gpu.dispatch(gpu.kernel(kernels.coherence, 'columns'), [u, buffer, unused, partial, this.result!], grid, name),
          reduce(grid[0] * grid[1]));
      } else {
        out.push(reduce(0));
      }
    });
    return out;
  }

  /** Measure the coherence of the batch of the step last submitted (waits for the GPU). */
  async measure(): Promise<CoherenceReading> {
    this.dispatches ??= this.build();
    this.gpu.submit(this.dispatches, 'coherence');
    const r = (await this.gpu.read(this.result!, 2 * this.params.length)) as Float32Array;
    let normOfSum = 0, sumOfNorms = 0;
    const byParameter = this.params.map((p, i) => {
      normOfSum += r[2 * i];
      sumOfNorms += r[2 * i + 1];
      return { name: p.param.name, normOfSum: r[2 * i], sumOfNorms: r[2 * i + 1] };
    });
    return { coherence: normOfSum / sumOfNorms, normOfSum, sumOfNorms, batch: this.batchSize, byParameter };
  }
}

/** A coherence probe on a trainer's training step (its batch, graph and parameters). */
export function createCoherenceProbe(trainer: Trainer): CoherenceProbe {
  const params = trainer.sgd.slots.map((s) => ({ param: s.param, node: s.node }));
  return new CoherenceProbe(trainer.gpu, trainer.train.program, params, trainer.opts.batchSize);
}

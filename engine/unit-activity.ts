import type { Gpu } from './gpu.js';
import { words } from './gpu.js';
import { Graph, Node, OpDef } from './graph.js';
import { Program } from './program.js';
import { ReluOp } from './ops/elementwise.js';
import type { Network } from './trainer.js';
import { inBatches, type Split } from './data/dataset.js';

/** Units of one ReLU layer: how many, and how many never fired. */
export interface LayerActivity { layer: number; shape: number[]; units: number; dead: number }

export interface UnitActivityResult {
  units: number;
  dead: number;
  /** dead / units (NaN for a network without ReLU layers). */
  deadFraction: number;
  layers: LayerActivity[];
}

/**
 * Running max per unit of a ReLU output viewed as [N, C, S]; the op's own buffer holds the maximum across
 * every replay of its program, so it must be cleared before a pass. Not differentiable.
 */
const MaxAccumulateOp: OpDef = {
  type: 'max_accumulate',
  compile(n, c) {
    const { N, C, S } = n.attrs;
    const u = c.uniform(words([N, C, S, 0]), 'max_accumulate');
    return [c.gpu.dispatch(c.gpu.kernel('unit_activity', 'max_accumulate'), [u, c.buf(n.inputs[0]), c.buf(n)], [Math.ceil(C / 64), 1, 1])];
  },
};

/** [N, C, S] of an activation: dense [N, F] has F units; a conv map [N, C, H, W] has C units (channels). */
function unitView(shape: number[]): { N: number; C: number; S: number } {
  const N = shape[0];
  if (shape.length === 4) return { N, C: shape[1], S: shape[2] * shape[3] };
  return { N, C: shape.slice(1).reduce((a, b) => a * b, 1), S: 1 };
}

/**
 * Counts the hidden ReLU units that never fire (output > 0) on any example of a split, in eval mode, on
 * the GPU: every ReLU of the network's forward pass gets a per-unit running max, accumulated over the
 * batches and read back once. A conv channel counts as one unit that fires if any position does.
 */
export class UnitActivity {
  private readonly program: Program;
  private readonly x: Node;
  private readonly maxima: Node[];

  constructor(readonly gpu: Gpu, readonly net: Network, readonly batchSize: number) {
    const g = new Graph();
    g.plans = gpu.plans;
    g.mode = 'eval';
    this.x = g.input('x', [batchSize, ...net.inputShape]);
    net.forward(g, this.x);
    const relus = g.nodes.filter((n) => n.op === ReluOp);
    this.maxima = relus.map((r) => {
      const v = unitView(r.shape);
      return g.op(MaxAccumulateOp, [r], [v.C], v, 'f32', `max ${r.name}`);
    });
    this.program = new Program(gpu, g, this.maxima);
  }

  async measure(split: Split): Promise<UnitActivityResult> {
    const F = this.net.inputShape.reduce((a, b) => a * b, 1);
    const B = this.batchSize;
    for (const m of this.maxima) this.gpu.write(this.program.buf(m), new Float32Array(m.size));
    const batch = new Float32Array(B * F);
    for await (const { images, size: count } of inBatches(split, B)) {
      batch.set(images);
      // A short last batch repeats its last example: a repeat cannot change a maximum.
      for (let i = count; i < B; i++) batch.copyWithin(i * F, (count - 1) * F, count * F);
      this.program.write(this.x, batch);
      this.program.run();
    }
    const layers: LayerActivity[] = [];
    for (const [layer, m] of this.maxima.entries()) {
      const max = (await this.program.read(m)) as Float32Array;
      let dead = 0;
      for (const v of max) if (!(v > 0)) dead++;
      layers.push({ layer, shape: m.inputs[0].shape.slice(1), units: max.length, dead });
    }
    const units = layers.reduce((s, l) => s + l.units, 0), dead = layers.reduce((s, l) => s + l.dead, 0);
    return { units, dead, deadFraction: units > 0 ? dead / units : NaN, layers };
  }
}

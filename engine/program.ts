import { Gpu, Dispatch } from './gpu.js';
import { Graph, Node, sizeOf, type CompileContext } from './graph.js';
import { topoOrder } from './autograd.js';
import { planFusion, type FusionPlan } from './fusion.js';

/**
 * A graph compiled for one device and one set of shapes: a buffer per node (views share their
 * source's), pipelines and bind groups created once, and the dispatch list replayed every step.
 * Bias adds, ReLUs and ReLU gradients are folded into the pass producing their input where the plans allow
 * (engine/fusion.ts); the values that then exist only inside a pass have no buffer.
 */
export class Program {
  readonly dispatches: Dispatch[] = [];
  private buffers = new Map<Node, GPUBuffer>();
  readonly order: Node[];
  readonly fusion: FusionPlan;

  constructor(readonly gpu: Gpu, readonly graph: Graph, outputs: Node[]) {
    this.order = topoOrder(outputs);
    this.fusion = planFusion(this.order, outputs, gpu.plans);
    for (const n of this.order) if (n.kind !== 'op') this.buf(n);
    this.dispatches.push(...this.compile(this.order.filter((n) => n.kind === 'op')));
  }

  /**
   * The dispatches of op nodes, in order. Without `allocate` they write to the program's own buffers; with it,
   * a node gets the buffer `allocate` returns (undefined: the program's), so nodes built after the program
   * (a late backward pass) are compiled against it into scratch buffers. Not appended to the program's steps.
   */
  compile(nodes: Node[], allocate?: (n: Node) => GPUBuffer | undefined): Dispatch[] {
    const ctx: CompileContext = {
      gpu: this.gpu,
      buf: (n: Node) => allocate?.(n) ?? this.buf(n),
      uniform: (w: ArrayBuffer, label?: string) => this.gpu.uniform(w, label),
    };
    return nodes.flatMap((n) => {
      if (this.fusion.folded.has(n)) return [];
      const pass = this.fusion.passes.get(n);
      if (!pass) return n.op!.compile(n, ctx);
      return n.op!.compile(n, { ...ctx, buf: (m: Node) => ctx.buf(m === n ? pass.out : m) }, pass.epilogue);
    });
  }

  /** The buffer holding `node`'s value. */
  buf(n: Node): GPUBuffer {
    let b = this.buffers.get(n);
    if (b) return b;
    if (this.fusion.transient.has(n)) {
      throw new Error(`${n.name}: its value exists only inside a fused pass of this program; make it an output of the program to read it`);
    }
    if (n.kind === 'view') b = this.buf(n.inputs[0]);
    else if (n.kind === 'param') b = this.graph.params.get(n)!.ensure(this.gpu);
    else if (n.kind === 'const') {
      const data = new Float32Array(sizeOf(n.shape)).fill(n.attrs.value);
      b = this.gpu.buffer(n.size, n.name, data);
    } else b = this.gpu.buffer(n.size, n.name);
    this.buffers.set(n, b);
    return b;
  }

  write(input: Node, data: Float32Array | Int32Array): void {
    if (data.length !== input.size) throw new Error(`${input.name}: expected ${input.size} values, got ${data.length}`);
    this.gpu.write(this.buf(input), data);
  }

  async read(n: Node): Promise<Float32Array | Int32Array> {
    return (await this.gpu.read(this.buf(n), n.size, n.dtype)) as Float32Array | Int32Array;
  }

  private static count = 0;
  private readonly key = `program${Program.count++}`;

  /**
   * Run the whole program once as one command buffer; `extra` dispatches (an optimizer's) follow in the same pass,
   * `first` ones (an input upload's) precede it.
   */
  run(extra: Dispatch[] = [], first: Dispatch[] = []): void {
    this.gpu.submit(extra.length || first.length ? [...first, ...this.dispatches, ...extra] : this.dispatches, this.key);
  }
}

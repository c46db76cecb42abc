import type { Gpu, Dispatch } from './gpu.js';
import type { Plans } from './plans.js';

export type DType = 'f32' | 'i32';

/** A trainable tensor that outlives any one graph: its buffer is allocated once per model. */
export class Parameter {
  buffer: GPUBuffer | null = null;
  /** How checkpoints store it: float32, or int64 for PyTorch's integer counters (held as float32 here). */
  readonly safetensorsDtype: 'F32' | 'I64' = 'F32';
  constructor(readonly name: string, readonly shape: number[], public init: Float32Array) {
    if (init.length !== sizeOf(shape)) throw new Error(`${name}: init has ${init.length} values for shape [${shape}]`);
  }
  get size(): number { return sizeOf(this.shape); }
  ensure(gpu: Gpu): GPUBuffer {
    if (!this.buffer) this.buffer = gpu.buffer(this.size, this.name, this.init);
    return this.buffer;
  }
}

/**
 * How an op is computed on the GPU and differentiated: one object per op, in its own file under engine/ops/.
 *
 * Two general features ride on `backward`, and an op that takes a parameter as an input has duties for each:
 * - Gradient groups (`graph.gradGroups` = K > 1): the batch is K runs of B/K consecutive examples, and the
 *   gradient of every input that is a parameter must have shape [K, ...param.shape], group k reduced over its
 *   own examples only. Gradients of non-parameter inputs keep their shapes. An op that cannot group (too many
 *   workgroups) throws a one-line Error naming the limit. An op whose statistics span the batch (batch norm)
 *   computes them per group as well, so that the groups are independent.
 * - Per-example gradients: an op whose parameter gradient is a sum over examples of a rank-one or per-example
 *   term records its factors in `graph.perExample` (dy [B, out] and x [B, in] for x·Wᵀ, dy alone for a bias), so
 *   that a consumer can form or reduce the B per-example gradients without materialising them. Ops that
 *   record nothing (convolutions) leave a consumer to rebuild the gradient with `graph.gradSites` and
 *   gradGroups = B, which autograd records for every parameter use, so `backward` must be callable again on
 *   the same node under another gradGroups.
 */
export interface OpDef {
  type: string;
  /**
   * Record the forward dispatches of `node`; buffers come from `c.buf(...)`. With `epilogue` (only where `accepts`
   * allowed it) the pass also applies it before storing, and `c.buf(node)` is the buffer of the fused chain's last node.
   * A pass may store several nodes' values (its own and those of nodes built on it, through `c.buf` of each); such a
   * node then records no dispatch, as long as its buffer is the one that pass stored into.
   */
  compile(node: Node, c: CompileContext, epilogue?: Epilogue): Dispatch[];
  /** The epilogues this node's pass can apply on the given plans (engine/fusion.ts folds them in); none when absent. */
  accepts?(node: Node, plans: Plans): Partial<Record<EpilogueKind, boolean>>;
  /** What this op is when folded into the pass of the op producing its first input (see Epilogue). */
  epilogueKind?: EpilogueKind;
  /** Gradients w.r.t. each input (null where none flows), built from graph ops; see above for parameters. */
  backward?(node: Node, dy: Node): (Node | null)[];
}

/**
 * Passes folded into a producer's store: a bias over the last axis (the bias add's second input), then a ReLU; or, in
 * a backward pass, a ReLU's gradient mask (zero where `mask`, the ReLU's output, is not positive).
 */
export interface Epilogue { bias: Node | null; relu: boolean; mask: Node | null }
export type EpilogueKind = 'bias' | 'relu' | 'mask';

export interface CompileContext {
  gpu: Gpu;
  buf(node: Node): GPUBuffer;
  /** A uniform buffer created once per compiled program. */
  uniform(words: ArrayBuffer, label?: string): GPUBuffer;
}

export type NodeKind = 'input' | 'param' | 'const' | 'op' | 'view';

/** A symbolic tensor in a static graph: built once, compiled once, replayed every step. */
export class Node {
  readonly id: number;
  constructor(
    readonly graph: Graph,
    readonly kind: NodeKind,
    readonly shape: number[],
    readonly dtype: DType,
    readonly op: OpDef | null,
    readonly inputs: Node[],
    readonly attrs: Record<string, any>,
    public name: string,
  ) {
    this.id = graph.nodes.length;
    graph.nodes.push(this);
  }
  get size(): number { return sizeOf(this.shape); }
}

/**
 * A static computation graph. `gradGroups` > 1 asks weight-gradient ops to reduce the batch in that
 * many equal groups, giving parameter gradients of shape [groups, ...param.shape].
 */
export class Graph {
  nodes: Node[] = [];
  readonly params = new Map<Node, Parameter>();
  gradGroups = 1;
  mode: 'train' | 'eval' = 'train';
  /**
   * The plans of the device the graph is built for, where the builder knows them: ops whose graph shape depends on
   * the kernels (the convolution weight gradient's split) choose for them. Unknown: the lavapipe choice. Any graph
   * compiles correctly on either family; this only tunes it.
   */
  plans?: Plans;
  /**
   * Per-example gradient factors, recorded by autograd for parameters used densely: the gradient of
   * example i is the outer product of dy[i] and x[i] (a weight: dy [B, out], x [B, in]) or dy[i] itself
   * (a bias: x null). Rules that need per-example gradients use them without materialising B x P values.
   */
  readonly perExample = new Map<Node, { x: Node | null; dy: Node }>();
  /**
   * Where each parameter's gradient comes from, recorded by autograd: the node that used it (an op or
   * a view), the gradient flowing into that node, and the parameter's input index. Calling
   * `site.node.op.backward(site.node, site.dy)` again under another `gradGroups` rebuilds the parameter's
   * gradient with that grouping (e.g. one group per example) without redoing the rest of the backward pass.
   */
  readonly gradSites = new Map<Node, { node: Node; dy: Node; input: number }[]>();

  input(name: string, shape: number[], dtype: DType = 'f32'): Node {
    return new Node(this, 'input', shape, dtype, null, [], {}, name);
  }

  param(p: Parameter): Node {
    for (const [n, q] of this.params) if (q === p) return n;
    const n = new Node(this, 'param', p.shape, 'f32', null, [], {}, p.name);
    this.params.set(n, p);
    return n;
  }

  /** A constant filled with `value` (materialised once at compile time). */
  constant(shape: number[], value: number, name = 'const'): Node {
    return new Node(this, 'const', shape, 'f32', null, [], { value }, name);
  }

  op(def: OpDef, inputs: Node[], shape: number[], attrs: Record<string, any> = {}, dtype: DType = 'f32', name = def.type): Node {
    for (const i of inputs) if (i.graph !== this) throw new Error(`${def.type}: inputs belong to another graph`);
    return new Node(this, 'op', shape, dtype, def, inputs, attrs, name);
  }

  /** A reshaped view sharing its input's buffer. */
  view(x: Node, shape: number[]): Node {
    if (sizeOf(shape) !== x.size) throw new Error(`cannot view [${x.shape}] as [${shape}]`);
    return new Node(this, 'view', shape, x.dtype, null, [x], {}, `${x.name}.view`);
  }
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

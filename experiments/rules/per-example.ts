import { Graph, Node } from '../../engine/graph.js';
import type { Gpu, Dispatch } from '../../engine/gpu.js';
import type { Program } from '../../engine/program.js';
import { topoOrder } from '../../engine/autograd.js';
import { add } from '../../engine/ops/elementwise.js';

/**
 * How the per-example gradients g_1..g_B of one parameter are formed, without a B x P tensor where possible.
 *
 * Definition: g_b is example b's term of the batch gradient of the mean loss, so sum_b g_b is the gradient
 * SGD applies (each is 1/B times the gradient of example b's own loss when examples do not interact).
 * With batch norm in training mode the examples interact through the batch statistics; g_b is then the
 * example's term of the weight-gradient sum with the backward signal dy_b of the whole-batch loss, i.e.
 * the statistics are held as computed on the whole batch (and their gradient flows through every dy_b).
 *
 * - `outer`: a dense weight [rows, cols] used once, g_b = dy_b ⊗ x_b (graph.perExample factors).
 * - `rows`: a bias used once, g_b = dy_b.
 * - `materialized`: anything else (convolutions, batch norm, a dense layer whose rows are not examples):
 *   the parameter's backward is rebuilt with graph.gradGroups = B, giving `grad` [B, ...shape].
 * - `zero`: the loss does not depend on the parameter.
 */
export type PerExample =
  | { kind: 'outer'; x: Node; dy: Node; rows: number; cols: number }
  | { kind: 'rows'; dy: Node; n: number }
  | { kind: 'materialized'; grad: Node; n: number }
  | { kind: 'zero'; n: number };

export class PerExampleError extends Error {
  override name = 'PerExampleError';
}

export function perExampleOf(g: Graph, param: Node, B: number): PerExample {
  return factorsOf(g, param, B) ?? { kind: 'materialized', grad: regroup(g, param, g.gradSites.get(param) ?? [], B), n: param.size };
}

/** The per-example gradients' form when it needs no materialised gradients (outer, rows or zero); else null. */
export function factorsOf(g: Graph, param: Node, B: number): Exclude<PerExample, { kind: 'materialized' }> | null {
  const n = param.size;
  const sites = g.gradSites.get(param) ?? [];
  if (sites.length === 0) return { kind: 'zero', n };
  const f = g.perExample.get(param);
  if (f && sites.length === 1 && f.dy.shape.length === 2 && f.dy.shape[0] === B) {
    const rows = f.dy.shape[1];
    if (f.x === null && rows === n) return { kind: 'rows', dy: f.dy, n };
    if (f.x && f.x.shape.length === 2 && f.x.shape[0] === B && rows * f.x.shape[1] === n) return { kind: 'outer', x: f.x, dy: f.dy, rows, cols: f.x.shape[1] };
  }
  return null;
}

/** The parameter's gradient with one group per example, [B, ...shape], from its recorded gradient sites. */
function regroup(g: Graph, param: Node, sites: { node: Node; dy: Node; input: number }[], B: number): Node {
  const keepGroups = g.gradGroups;
  const keepFactors = new Map(g.perExample);
  g.gradGroups = B;
  try {
    let total: Node | null = null;
    for (const s of sites) {
      if (s.node.kind !== 'op' || !s.node.op?.backward) {
        throw new PerExampleError(`per-example gradients of ${param.name} cannot be formed: it is used through a reshaped view; use it directly in its op`);
      }
      let d: Node | null;
      try {
        d = s.node.op.backward(s.node, s.dy)[s.input];
      } catch (e) {
        throw new PerExampleError(`per-example gradients of ${param.name} cannot be formed: ${(e as Error).message}`);
      }
      if (!d) continue;
      if (d.size !== B * param.size) {
        throw new PerExampleError(`per-example gradients of ${param.name} cannot be formed: the ${s.node.op.type} op does not reduce its gradient per batch `
          + `group (graph.gradGroups)`);
      }
      total = total ? add(total, d) : d;
    }
    if (!total) throw new PerExampleError(`per-example gradients of ${param.name} cannot be formed: no op produced a gradient for it`);
    return total;
  } finally {
    g.gradGroups = keepGroups;
    g.perExample.clear();
    for (const [k, v] of keepFactors) g.perExample.set(k, v);
  }
}

/**
 * Compiles the materialised per-example gradients (nodes built after the Program) into dispatches that read
 * the program's buffers. Parameters are done one after another in the recorded order, so they share their
 * buffers: the j-th intermediate node of every parameter's regrouped backward uses pool buffer j, and every
 * result goes to one scratch buffer. Memory is bounded by B x (largest materialised parameter) for the
 * results plus the largest intermediates, not by the sum over parameters.
 */
export class LateCompiler {
  private readonly known: Set<Node>;
  private readonly plans = new Map<Node, { base: Node; steps: Node[] }>();
  private readonly pool: GPUBuffer[] = [];
  readonly scratch: GPUBuffer | null = null;

  constructor(readonly gpu: Gpu, readonly program: Program, roots: Node[]) {
    this.known = new Set(program.order);
    const poolSizes: number[] = [];
    let biggest = 0;
    for (const root of roots) {
      let base = root;
      while (base.kind === 'view' && !this.known.has(base)) base = base.inputs[0];
      const steps = this.known.has(base) ? [] : topoOrder([root]).filter((n) => n.kind === 'op' && !this.known.has(n));
      this.plans.set(root, { base, steps });
      if (steps.length) biggest = Math.max(biggest, base.size);
      steps.filter((n) => n !== base).forEach((n, j) => (poolSizes[j] = Math.max(poolSizes[j] ?? 0, n.size)));
    }
    this.pool = poolSizes.map((n, j) => gpu.buffer(n, `per-example intermediate ${j}`));
    if (biggest > 0) this.scratch = gpu.buffer(biggest, 'per-example gradients');
  }

  /** Dispatches computing `root` (one of the constructor's), and the buffer that will hold it. */
  compile(root: Node): { dispatches: Dispatch[]; buffer: GPUBuffer } {
    const plan = this.plans.get(root);
    if (!plan) throw new Error(`${root.name}: not planned by this compiler`);
    const { base, steps } = plan;
    if (this.known.has(base)) return { dispatches: [], buffer: this.program.buf(base) };
    const slot = new Map(steps.filter((n) => n !== base).map((n, j) => [n, this.pool[j]]));
    const allocate = (n: Node): GPUBuffer | undefined => {
      while (n.kind === 'view' && !this.known.has(n)) n = n.inputs[0];
      return n === base ? this.scratch! : slot.get(n);
    };
    return { dispatches: this.program.compile(steps, allocate), buffer: this.scratch! };
  }
}

import type { Epilogue, Node } from './graph.js';
import type { Plans } from './plans.js';

/** A producer compiled with its consumers' passes folded in: it stores the value of `out`, the chain's last node. */
export interface FusedPass { epilogue: Epilogue; out: Node }

export interface FusionPlan {
  /** Producers that run fused, by node. */
  passes: Map<Node, FusedPass>;
  /** Consumers folded into a producer's pass: they record no dispatches. */
  folded: Set<Node>;
  /** Values that exist only inside a fused pass (the producer's and any intermediate result): they get no buffer. */
  transient: Set<Node>;
}

/**
 * Which bias adds and ReLUs of a program fold into the pass that produces their input (one pass instead of two or
 * three: matmul → bias → ReLU, convolution → ReLU, batch norm → ReLU, add → ReLU), and which ReLU gradients fold into
 * the pass producing the gradient they mask (a convolution's input gradient, a product, a concatenation's gradient
 * slice, the add summing the gradients of a value several ops read), the mask read from the ReLU's output. A value is
 * folded away only when the next op of the chain is its sole user in the program and it is not one of the program's
 * outputs, so nothing else can read it; a ReLU's gradient reads the ReLU's own output, which stays. A bias or mask folds
 * only when it is computed before the producer runs in the program's order (a parameter always is; a ReLU's output is
 * before its gradient once the loss depends on it).
 */
export function planFusion(order: Node[], outputs: Node[], plans: Plans): FusionPlan {
  const plan: FusionPlan = { passes: new Map(), folded: new Set(), transient: new Set() };
  if (!plans.fusion) return plan;
  const users = new Map<Node, Node[]>();
  for (const n of order) for (const x of n.inputs) users.set(x, [...(users.get(x) ?? []), n]);
  const position = new Map(order.map((n, i) => [n, i]));
  const kept = new Set(outputs);
  // Inputs, parameters and constants hold their values before any pass runs; an op's value once it has run.
  const ready = (v: Node, p: Node): boolean => v.kind === 'view' ? ready(v.inputs[0], p) : v.kind !== 'op' || position.get(v)! < position.get(p)!;
  const soleUser = (n: Node): Node | null => {
    const u = users.get(n);
    return !kept.has(n) && u?.length === 1 && u[0].kind === 'op' && u[0].inputs[0] === n ? u[0] : null;
  };
  for (const p of order) {
    if (p.kind !== 'op' || plan.folded.has(p)) continue;
    const can = p.op!.accepts?.(p, plans);
    if (!can) continue;
    const chain: Node[] = [p];
    const epilogue: Epilogue = { bias: null, relu: false, mask: null };
    let next = soleUser(p);
    if (can.bias && next?.op!.epilogueKind === 'bias' && ready(next.inputs[1], p)) {
      epilogue.bias = next.inputs[1];
      chain.push(next);
      next = soleUser(next);
    }
    if (can.relu && next?.op!.epilogueKind === 'relu') {
      epilogue.relu = true;
      chain.push(next);
    } else if (chain.length === 1 && can.mask && next?.op!.epilogueKind === 'mask' && ready(next.inputs[1], p)) {
      epilogue.mask = next.inputs[1];
      chain.push(next);
    }
    if (chain.length === 1) continue;
    const out = chain[chain.length - 1];
    plan.passes.set(p, { epilogue, out });
    for (const n of chain.slice(1)) plan.folded.add(n);
    for (const n of chain.slice(0, -1)) plan.transient.add(n);
  }
  return plan;
}

import { Graph, Node, Parameter } from '../engine/graph.js';

/** A network: its parameters (in PyTorch's order and names) and a forward graph builder for any batch size. */
export interface Model {
  readonly name: string;
  /** Input shape of one example, e.g. [1, 28, 28]. */
  readonly inputShape: number[];
  readonly numClasses: number;
  /** Trainable tensors, named like PyTorch's state_dict (`layers.0.weight`). */
  parameters(): Parameter[];
  /** Non-trainable state saved in checkpoints (batch-norm running statistics). */
  buffers(): Parameter[];
  /** Logits [B, numClasses] from x [B, ...inputShape]; graph.mode says train or eval. */
  forward(g: Graph, x: Node): Node;
}

export function parameterCount(m: Model): number {
  return m.parameters().reduce((s, p) => s + p.size, 0);
}

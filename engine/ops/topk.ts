import { Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';

/**
 * 1 where the label is among the row's k highest logits, else 0: shape [B]. Ties rank the lower class index
 * first, as `correct` does for k = 1, so the result is deterministic. Not differentiable.
 */
export function correctTopK(logits: Node, labels: Node, k: number): Node {
  if (logits.shape.length !== 2 || labels.dtype !== 'i32' || labels.size !== logits.shape[0]) {
    throw new Error(`top-k accuracy needs logits [B, C] and i32 labels [B], got [${logits.shape}] and ${labels.dtype} [${labels.shape}]`);
  }
  if (!Number.isInteger(k) || k < 1) throw new Error(`top-k accuracy needs an integer k >= 1, got ${k}`);
  return logits.graph.op(TopKCorrectOp, [logits, labels], [logits.shape[0]], { k });
}

export const TopKCorrectOp: OpDef = {
  type: 'topk_correct',
  compile(n, c) {
    const [logits, labels] = n.inputs;
    const [B, C] = logits.shape;
    const u = c.uniform(words([B, C, n.attrs.k, 0]));
    return [c.gpu.dispatch(c.gpu.kernel('topk'), [u, c.buf(logits), c.buf(labels), c.buf(n)], [Math.ceil(B / 64), 1, 1])];
  },
};

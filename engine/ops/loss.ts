import { CompileContext, Node, OpDef } from '../graph.js';
import { words } from '../gpu.js';

/** Per-example softmax cross-entropy of logits [B, C] against integer labels [B]: shape [B]. */
export function crossEntropy(logits: Node, labels: Node): Node {
  check(logits, labels);
  return logits.graph.op(CrossEntropyOp, [logits, labels], [logits.shape[0]]);
}

/** 1 where the row's argmax (first on ties) equals the label, else 0: shape [B]. Not differentiable. */
export function correct(logits: Node, labels: Node): Node {
  check(logits, labels);
  return logits.graph.op(CorrectOp, [logits, labels], [logits.shape[0]]);
}

function check(logits: Node, labels: Node) {
  if (logits.shape.length !== 2 || labels.dtype !== 'i32' || labels.size !== logits.shape[0]) {
    throw new Error(`cross-entropy needs logits [B, C] and i32 labels [B], got [${logits.shape}] and ${labels.dtype} [${labels.shape}]`);
  }
}

/** Heads at least this wide use the subgroup kernel where the plans allow it. */
export const SUBGROUP_MIN_CLASSES = 64;

function dispatch(entry: string, extraInput = false) {
  return (n: Node, c: CompileContext) => {
    const extra = extraInput ? n.inputs[2] : null;
    const [logits, labels] = n.inputs;
    const [B, C] = logits.shape;
    const u = c.uniform(words([B, C, 0, 0]));
    const up = extra ?? logits;
    const buffers = [u, c.buf(logits), c.buf(labels), c.buf(up), c.buf(n)];
    // Wide rows on a GPU with subgroups: a workgroup per example (B workgroups) instead of an invocation per example.
    if (c.gpu.plans.subgroups && C >= SUBGROUP_MIN_CLASSES) {
      return [c.gpu.dispatch(c.gpu.kernel('cross_entropy_subgroup', entry), buffers, [B, 1, 1], `${entry} (subgroups)`)];
    }
    return [c.gpu.dispatch(c.gpu.kernel('cross_entropy', entry), buffers, [Math.ceil(B / 64), 1, 1], entry)];
  };
}

export const CrossEntropyOp: OpDef = {
  type: 'cross_entropy',
  compile: dispatch('forward'),
  backward(n, dy) {
    const [logits, labels] = n.inputs;
    return [n.graph.op(CrossEntropyBackwardOp, [logits, labels, dy], logits.shape), null];
  },
};

export const CrossEntropyBackwardOp: OpDef = {
  type: 'cross_entropy_backward',
  compile: dispatch('backward', true),
};

export const CorrectOp: OpDef = { type: 'correct', compile: dispatch('correct') };

import { Graph, Node, sameShape } from './graph.js';
import { add, scale } from './ops/elementwise.js';

/**
 * Reverse-mode differentiation on the static graph: returns d(loss)/d(node) for each node in `wrt`,
 * built from graph ops so that the backward pass is compiled and replayed like the forward one.
 * With graph.gradGroups = K > 1, parameter gradients have shape [K, ...param.shape].
 */
export function gradients(loss: Node, wrt: Node[]): Map<Node, Node> {
  const g = loss.graph;
  if (loss.size !== 1) throw new Error(`gradients need a scalar loss, got shape [${loss.shape}]`);
  const order = topoOrder([loss]);
  const needed = reachesAny(order, new Set(wrt));
  const grads = new Map<Node, Node>();
  grads.set(loss, g.constant(loss.shape, 1, 'dloss'));
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    const dy = grads.get(node);
    if (!dy || node.inputs.length === 0) continue;
    let dxs: (Node | null)[];
    if (node.kind === 'view') dxs = [g.view(dy, dyShapeFor(node.inputs[0], dy))];
    else if (node.op?.backward) dxs = node.op.backward(node, dy);
    else continue;
    node.inputs.forEach((x, j) => {
      const dx = dxs[j];
      if (!dx || !needed.has(x)) return;
      if (x.kind === 'param') g.gradSites.set(x, [...(g.gradSites.get(x) ?? []), { node, dy, input: j }]);
      const prev = grads.get(x);
      grads.set(x, prev ? add(prev, dx) : dx);
    });
  }
  const out = new Map<Node, Node>();
  for (const w of wrt) {
    // An op, not a constant: optimizers may update gradient buffers in place (weight decay), and an op is recomputed each step.
    const dw = grads.get(w) ?? scale(g.constant(gradShape(g, w), 0, `d${w.name}`), 0);
    const want = gradShape(g, w);
    if (!sameShape(dw.shape, want)) throw new Error(`gradient of ${w.name} has shape [${dw.shape}], expected [${want}]`);
    out.set(w, dw);
  }
  return out;
}

/** Shape of a gradient: parameters get a leading group axis when the graph reduces in groups. */
export function gradShape(g: Graph, w: Node): number[] {
  return w.kind === 'param' && g.gradGroups > 1 ? [g.gradGroups, ...w.shape] : w.shape;
}

function dyShapeFor(x: Node, dy: Node): number[] {
  // A grouped parameter gradient flowing back through a view keeps its group axis.
  return dy.size === x.size ? x.shape : [dy.size / x.size, ...x.shape];
}

/** Nodes reachable from `outputs`, inputs before users. */
export function topoOrder(outputs: Node[]): Node[] {
  const seen = new Set<Node>();
  const order: Node[] = [];
  const stack: [Node, number][] = outputs.map((o) => [o, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [n, i] = top;
    if (i === 0 && seen.has(n)) { stack.pop(); continue; }
    if (i < n.inputs.length) {
      top[1]++;
      const x = n.inputs[i];
      if (!seen.has(x)) stack.push([x, 0]);
    } else {
      stack.pop();
      if (!seen.has(n)) { seen.add(n); order.push(n); }
    }
  }
  return order;
}

/** The nodes of `order` from which some node in `targets` can be reached (the ones gradients must flow to). */
function reachesAny(order: Node[], targets: Set<Node>): Set<Node> {
  const r = new Set<Node>();
  for (const n of order) if (targets.has(n) || n.inputs.some((x) => r.has(x))) r.add(n);
  // r now holds nodes that depend on a target; a gradient is needed for targets and the nodes between.
  return r;
}

import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { relu } from '../engine/ops/elementwise.js';
import { InitScheme } from '../engine/init.js';
import { Init, Linear } from './layers.js';
import { Model } from './model.js';

/**
 * Fully connected ReLU network. Parameter names follow an nn.Sequential of Linear and ReLU modules,
 * so hidden [1024, 1024] gives layers.0, layers.2, layers.4.
 */
export class Mlp implements Model {
  readonly name = 'mlp';
  readonly layers: Linear[] = [];
  constructor(readonly inputShape: number[], readonly numClasses: number, hidden: number[], rng: Rng, init: InitScheme = 'pytorch') {
    const widths = [inputShape.reduce((a, b) => a * b, 1), ...hidden, numClasses];
    const weights = new Init(rng, init);
    for (let i = 0; i + 1 < widths.length; i++) this.layers.push(new Linear(`layers.${2 * i}`, widths[i], widths[i + 1], weights));
  }
  parameters(): Parameter[] { return this.layers.flatMap((l) => l.parameters()); }
  buffers(): Parameter[] { return []; }
  forward(g: Graph, x: Node): Node {
    let h = g.view(x, [x.shape[0], x.size / x.shape[0]]);
    this.layers.forEach((l, i) => {
      h = l.apply(g, h);
      if (i + 1 < this.layers.length) h = relu(h);
    });
    return h;
  }
}

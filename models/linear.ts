import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { matmul } from '../engine/ops/matmul.js';
import { addBias } from '../engine/ops/bias.js';
import { uniformFanIn, glorotNormalCG, zeros, InitScheme } from '../engine/init.js';

/** y = x Wᵀ + b with W stored [out, in] as in PyTorch. */
export class Linear {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(name: string, readonly inFeatures: number, readonly outFeatures: number, rng: Rng, opts: { bias?: boolean; init?: InitScheme } = {}) {
    const n = inFeatures * outFeatures;
    const cg = opts.init === 'glorot-cg';
    this.weight = new Parameter(`${name}.weight`, [outFeatures, inFeatures], cg ? glorotNormalCG(rng, n, inFeatures, outFeatures) : uniformFanIn(rng, n, inFeatures));
    this.bias = opts.bias === false ? null : new Parameter(`${name}.bias`, [outFeatures], cg ? zeros(outFeatures) : uniformFanIn(rng, outFeatures, inFeatures));
  }
  parameters(): Parameter[] { return this.bias ? [this.weight, this.bias] : [this.weight]; }
  apply(g: Graph, x: Node): Node {
    const y = matmul(x, g.param(this.weight), { transB: true });
    return this.bias ? addBias(y, g.param(this.bias)) : y;
  }
}

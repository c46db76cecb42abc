import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { relu } from '../engine/ops/elementwise.js';
import { maxPool2d, adaptiveAvgPool2d } from '../engine/ops/pool.js';
import { Model } from './model.js';
import { BatchNorm2d, Conv2d, Linear, Dropout, Init, Registry, WeightInit, atLayer, scaled } from './layers.js';
import { checkInput } from './shapes.js';

/** torchvision's configuration 'B' (VGG-13): conv widths, 'M' for a 2x2 max pool. */
const VGG13: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];

export interface VggOptions { width?: number; init?: WeightInit; batchNorm?: boolean }

/**
 * torchvision's vgg13 / vgg13_bn: `features` as one nn.Sequential (conv [, bn], ReLU per entry, max pool per
 * 'M', so parameter indices are features.0, .2, ... or .0/.1, .3/.4, ... with batch norm), adaptive average
 * pool to 7x7, and classifier.0/3/6 (Linear-ReLU-Dropout twice, then Linear). 133,047,848 parameters
 * (vgg13) and 133,053,736 (vgg13_bn) at 1000 classes. Init as torchvision: kaiming_normal fan_out convs with
 * zero bias, batch norm 1/0, linear N(0, 0.01) with zero bias. Conv and hidden widths times `width`.
 */
export class Vgg implements Model {
  readonly name: string;
  private readonly layers: ({ conv: Conv2d; bn: BatchNorm2d | null } | { pool: string })[] = [];
  readonly classifier: [Linear, Dropout, Linear, Dropout, Linear];
  private readonly modules = new Registry();

  constructor(readonly inputShape: number[], readonly numClasses: number, rng: Rng, opts: VggOptions = {}) {
    const width = opts.width ?? 1;
    const bn = !!opts.batchNorm;
    this.name = bn ? 'vgg13_bn' : 'vgg13';
    const init = new Init(rng, opts.init);
    let index = 0;
    let channels = inputShape[0];
    for (const v of VGG13) {
      if (v === 'M') {
        this.layers.push({ pool: `features.${index++}` });
        continue;
      }
      const out = scaled(v, width);
      const conv = this.modules.add(new Conv2d(`features.${index}`, channels, out, 3, init, { padding: 1, rule: 'kaiming-fan-out' }));
      const norm = bn ? this.modules.add(new BatchNorm2d(`features.${index + 1}`, out)) : null;
      this.layers.push({ conv, bn: norm });
      index += bn ? 3 : 2;
      channels = out;
    }
    const hidden = scaled(4096, width);
    const linear = { normal: 0.01 };
    this.classifier = [
      this.modules.add(new Linear('classifier.0', channels * 7 * 7, hidden, init, linear)),
      new Dropout(0.5, rng),
      this.modules.add(new Linear('classifier.3', hidden, hidden, init, linear)),
      new Dropout(0.5, rng),
      this.modules.add(new Linear('classifier.6', hidden, numClasses, init, linear)),
    ];
  }

  parameters(): Parameter[] { return this.modules.parameters(); }
  buffers(): Parameter[] { return this.modules.buffers(); }

  forward(g: Graph, x: Node): Node {
    checkInput(this, x);
    let h = x;
    for (const layer of this.layers) {
      if ('pool' in layer) {
        const input = h;
        h = atLayer(layer.pool, input, () => maxPool2d(input, { kernel: 2, stride: 2 }));
      } else {
        h = layer.conv.apply(g, h);
        if (layer.bn) h = layer.bn.apply(g, h);
        h = relu(h);
      }
    }
    const pooled = h;
    h = atLayer('avgpool', pooled, () => adaptiveAvgPool2d(pooled, [7, 7]));
    const [fc0, drop1, fc3, drop2, fc6] = this.classifier;
    h = drop1.apply(g, relu(fc0.apply(g, h)));
    h = drop2.apply(g, relu(fc3.apply(g, h)));
    return fc6.apply(g, h);
  }
}

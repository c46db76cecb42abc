import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { relu } from '../engine/ops/elementwise.js';
import { maxPool2d, avgPool2d } from '../engine/ops/pool.js';
import { concat } from '../engine/ops/concat.js';
import type { Pair } from '../engine/ops/conv2d.js';
import { Model } from './model.js';
import { BatchNorm2d, Conv2d, Linear, Dropout, Init, Registry, WeightInit, atLayer, scaled } from './layers.js';
import { checkInput } from './shapes.js';
import { poolToVector } from './resnet.js';

/** torchvision's BasicConv2d: conv without bias, batch norm with eps 0.001, ReLU; names `<name>.conv`, `<name>.bn`. */
class BasicConv2d {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(name: string, inC: number, outC: number, kernel: Pair, init: Init, modules: Registry, opts: { stride?: Pair; padding?: Pair } = {}) {
    // torchvision draws conv weights from a normal truncated at ±2 std with std 0.1 (the main network's convs).
    this.conv = modules.add(new Conv2d(`${name}.conv`, inC, outC, kernel, init, { ...opts, bias: false, rule: { truncNormal: 0.1 } }));
    this.bn = modules.add(new BatchNorm2d(`${name}.bn`, outC, { eps: 0.001 }));
  }
  get outChannels(): number { return this.bn.channels; }
  apply(g: Graph, x: Node): Node { return relu(this.bn.apply(g, this.conv.apply(g, x))); }
}

/** A mixed block: named convolutions in torchvision's registration order and a forward over them. */
abstract class Mixed {
  protected readonly c = new Map<string, BasicConv2d>();
  constructor(readonly name: string, protected readonly init: Init, protected readonly modules: Registry, protected readonly width: number) {}
  protected conv(branch: string, inC: number, outC: number, kernel: Pair, opts: { stride?: Pair; padding?: Pair } = {}): number {
    const m = new BasicConv2d(`${this.name}.${branch}`, inC, scaled(outC, this.width), kernel, this.init, this.modules, opts);
    this.c.set(branch, m);
    return m.outChannels;
  }
  /** Applies the named convolutions in sequence. */
  protected chain(g: Graph, x: Node, ...branches: string[]): Node {
    return branches.reduce((h, b) => this.c.get(b)!.apply(g, h), x);
  }
  protected avgPool3(x: Node): Node {
    return atLayer(`${this.name}.branch_pool`, x, () => avgPool2d(x, { kernel: 3, stride: 1, padding: 1 }));
  }
  protected maxPool3s2(x: Node): Node {
    return atLayer(`${this.name}.branch_pool`, x, () => maxPool2d(x, { kernel: 3, stride: 2 }));
  }
  abstract readonly outChannels: number;
  abstract apply(g: Graph, x: Node): Node;
}

class InceptionA extends Mixed {
  readonly outChannels: number;
  constructor(name: string, inC: number, poolFeatures: number, init: Init, modules: Registry, width: number) {
    super(name, init, modules, width);
    const b1 = this.conv('branch1x1', inC, 64, 1);
    const b5 = this.conv('branch5x5_2', this.conv('branch5x5_1', inC, 48, 1), 64, 5, { padding: 2 });
    const d1 = this.conv('branch3x3dbl_1', inC, 64, 1);
    const b3 = this.conv('branch3x3dbl_3', this.conv('branch3x3dbl_2', d1, 96, 3, { padding: 1 }), 96, 3, { padding: 1 });
    this.outChannels = b1 + b5 + b3 + this.conv('branch_pool', inC, poolFeatures, 1);
  }
  apply(g: Graph, x: Node): Node {
    return concat([
      this.chain(g, x, 'branch1x1'),
      this.chain(g, x, 'branch5x5_1', 'branch5x5_2'),
      this.chain(g, x, 'branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'),
      this.chain(g, this.avgPool3(x), 'branch_pool'),
    ]);
  }
}

class InceptionB extends Mixed {
  readonly outChannels: number;
  constructor(name: string, inC: number, init: Init, modules: Registry, width: number) {
    super(name, init, modules, width);
    const b3 = this.conv('branch3x3', inC, 384, 3, { stride: 2 });
    const d2 = this.conv('branch3x3dbl_2', this.conv('branch3x3dbl_1', inC, 64, 1), 96, 3, { padding: 1 });
    this.outChannels = b3 + this.conv('branch3x3dbl_3', d2, 96, 3, { stride: 2 }) + inC;
  }
  apply(g: Graph, x: Node): Node {
    return concat([
      this.chain(g, x, 'branch3x3'),
      this.chain(g, x, 'branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'),
      this.maxPool3s2(x),
    ]);
  }
}

class InceptionC extends Mixed {
  readonly outChannels: number;
  constructor(name: string, inC: number, channels7x7: number, init: Init, modules: Registry, width: number) {
    super(name, init, modules, width);
    const c7 = channels7x7;
    const b1 = this.conv('branch1x1', inC, 192, 1);
    let h = this.conv('branch7x7_1', inC, c7, 1);
    h = this.conv('branch7x7_2', h, c7, [1, 7], { padding: [0, 3] });
    const b7 = this.conv('branch7x7_3', h, 192, [7, 1], { padding: [3, 0] });
    h = this.conv('branch7x7dbl_1', inC, c7, 1);
    h = this.conv('branch7x7dbl_2', h, c7, [7, 1], { padding: [3, 0] });
    h = this.conv('branch7x7dbl_3', h, c7, [1, 7], { padding: [0, 3] });
    h = this.conv('branch7x7dbl_4', h, c7, [7, 1], { padding: [3, 0] });
    const d7 = this.conv('branch7x7dbl_5', h, 192, [1, 7], { padding: [0, 3] });
    this.outChannels = b1 + b7 + d7 + this.conv('branch_pool', inC, 192, 1);
  }
  apply(g: Graph, x: Node): Node {
    return concat([
      this.chain(g, x, 'branch1x1'),
      this.chain(g, x, 'branch7x7_1', 'branch7x7_2', 'branch7x7_3'),
      this.chain(g, x, 'branch7x7dbl_1', 'branch7x7dbl_2', 'branch7x7dbl_3', 'branch7x7dbl_4', 'branch7x7dbl_5'),
      this.chain(g, this.avgPool3(x), 'branch_pool'),
    ]);
  }
}

class InceptionD extends Mixed {
  readonly outChannels: number;
  constructor(name: string, inC: number, init: Init, modules: Registry, width: number) {
    super(name, init, modules, width);
    const b3 = this.conv('branch3x3_2', this.conv('branch3x3_1', inC, 192, 1), 320, 3, { stride: 2 });
    let h = this.conv('branch7x7x3_1', inC, 192, 1);
    h = this.conv('branch7x7x3_2', h, 192, [1, 7], { padding: [0, 3] });
    h = this.conv('branch7x7x3_3', h, 192, [7, 1], { padding: [3, 0] });
    this.outChannels = b3 + this.conv('branch7x7x3_4', h, 192, 3, { stride: 2 }) + inC;
  }
  apply(g: Graph, x: Node): Node {
    return concat([
      this.chain(g, x, 'branch3x3_1', 'branch3x3_2'),
      this.chain(g, x, 'branch7x7x3_1', 'branch7x7x3_2', 'branch7x7x3_3', 'branch7x7x3_4'),
      this.maxPool3s2(x),
    ]);
  }
}

class InceptionE extends Mixed {
  readonly outChannels: number;
  constructor(name: string, inC: number, init: Init, modules: Registry, width: number) {
    super(name, init, modules, width);
    const b1 = this.conv('branch1x1', inC, 320, 1);
    const s3 = this.conv('branch3x3_1', inC, 384, 1);
    const b3 = this.conv('branch3x3_2a', s3, 384, [1, 3], { padding: [0, 1] }) + this.conv('branch3x3_2b', s3, 384, [3, 1], { padding: [1, 0] });
    const d = this.conv('branch3x3dbl_2', this.conv('branch3x3dbl_1', inC, 448, 1), 384, 3, { padding: 1 });
    const bd = this.conv('branch3x3dbl_3a', d, 384, [1, 3], { padding: [0, 1] }) + this.conv('branch3x3dbl_3b', d, 384, [3, 1], { padding: [1, 0] });
    this.outChannels = b1 + b3 + bd + this.conv('branch_pool', inC, 192, 1);
  }
  apply(g: Graph, x: Node): Node {
    const s3 = this.chain(g, x, 'branch3x3_1');
    const d = this.chain(g, x, 'branch3x3dbl_1', 'branch3x3dbl_2');
    return concat([
      this.chain(g, x, 'branch1x1'),
      concat([this.chain(g, s3, 'branch3x3_2a'), this.chain(g, s3, 'branch3x3_2b')]),
      concat([this.chain(g, d, 'branch3x3dbl_3a'), this.chain(g, d, 'branch3x3dbl_3b')]),
      this.chain(g, this.avgPool3(x), 'branch_pool'),
    ]);
  }
}

export interface InceptionOptions { width?: number; init?: WeightInit }

/**
 * torchvision's inception_v3 without the auxiliary classifier (as in the paper's runs; aux_logits=False,
 * transform_input=False): 23,834,568 parameters at 1000 classes (the often quoted 27,161,264 includes the
 * AuxLogits head's 3,326,696). Names as torchvision (Conv2d_1a_3x3.conv, Mixed_5b.branch1x1.bn, ..., fc);
 * batch norm eps 0.001; convs and fc weights from a normal truncated at ±2 std with std 0.1, fc bias as
 * nn.Linear. The standard input is 3x299x299; the smallest it accepts is 75x75. Channels times `width`.
 */
export class InceptionV3 implements Model {
  readonly name = 'inception_v3';
  private readonly stem: BasicConv2d[] = [];
  private readonly blocks: Mixed[] = [];
  readonly dropout: Dropout;
  readonly fc: Linear;
  private readonly modules = new Registry();

  constructor(readonly inputShape: number[], readonly numClasses: number, rng: Rng, opts: InceptionOptions = {}) {
    const width = opts.width ?? 1;
    const init = new Init(rng, opts.init);
    const m = this.modules;
    const s = (c: number) => scaled(c, width);
    const stem: [string, number, Pair, { stride?: Pair; padding?: Pair }][] = [
      ['Conv2d_1a_3x3', 32, 3, { stride: 2 }], ['Conv2d_2a_3x3', 32, 3, {}], ['Conv2d_2b_3x3', 64, 3, { padding: 1 }],
      ['Conv2d_3b_1x1', 80, 1, {}], ['Conv2d_4a_3x3', 192, 3, {}],
    ];
    let c = inputShape[0];
    for (const [name, out, k, o] of stem) {
      this.stem.push(new BasicConv2d(name, c, s(out), k, init, m, o));
      c = s(out);
    }
    const add = (b: Mixed) => { this.blocks.push(b); c = b.outChannels; };
    add(new InceptionA('Mixed_5b', c, 32, init, m, width));
    add(new InceptionA('Mixed_5c', c, 64, init, m, width));
    add(new InceptionA('Mixed_5d', c, 64, init, m, width));
    add(new InceptionB('Mixed_6a', c, init, m, width));
    for (const [name, c7] of [['Mixed_6b', 128], ['Mixed_6c', 160], ['Mixed_6d', 160], ['Mixed_6e', 192]] as const) add(new InceptionC(name, c, c7, init, m,
      width));
    add(new InceptionD('Mixed_7a', c, init, m, width));
    add(new InceptionE('Mixed_7b', c, init, m, width));
    add(new InceptionE('Mixed_7c', c, init, m, width));
    this.dropout = new Dropout(0.5, rng);
    this.fc = m.add(new Linear('fc', c, numClasses, init, { truncNormal: 0.1 }));
  }

  parameters(): Parameter[] { return this.modules.parameters(); }
  buffers(): Parameter[] { return this.modules.buffers(); }

  forward(g: Graph, x: Node): Node {
    checkInput(this, x);
    const pool = (name: string, h: Node) => atLayer(name, h, () => maxPool2d(h, { kernel: 3, stride: 2 }));
    let h = x;
    this.stem.forEach((conv, i) => {
      h = conv.apply(g, h);
      if (i === 2) h = pool('maxpool1', h);
      if (i === 4) h = pool('maxpool2', h);
    });
    for (const b of this.blocks) h = b.apply(g, h);
    return this.fc.apply(g, this.dropout.apply(g, poolToVector(g, h)));
  }
}

import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { add, relu } from '../engine/ops/elementwise.js';
import { maxPool2d, avgPool2d, globalAvgPool } from '../engine/ops/pool.js';
import { concat } from '../engine/ops/concat.js';
import { Model } from './model.js';
import { BatchNorm2d, Conv2d, Linear, Init, Registry, WeightInit, atLayer, scaled } from './layers.js';
import { checkInput } from './shapes.js';

/**
 * How a block that changes width or resolution forms its shortcut: 'projection' is a 1x1 strided conv and
 * batch norm (torchvision's downsample.0/1, option B of He et al.); 'pad' subsamples with stride 2 and pads
 * the new channels with zeros (option A of He et al. 2016 for CIFAR, no parameters).
 */
export type Shortcut = 'projection' | 'pad';

/** torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn plus shortcut, then ReLU. */
export class BasicBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: [Conv2d, BatchNorm2d] | null = null;
  constructor(readonly name: string, readonly inPlanes: number, readonly planes: number, readonly stride: number, init: Init, modules: Registry,
    readonly shortcut: Shortcut) {
    const conv = { bias: false, rule: 'kaiming-fan-out' as const };
    this.conv1 = modules.add(new Conv2d(`${name}.conv1`, inPlanes, planes, 3, init, { ...conv, stride, padding: 1 }));
    this.bn1 = modules.add(new BatchNorm2d(`${name}.bn1`, planes));
    this.conv2 = modules.add(new Conv2d(`${name}.conv2`, planes, planes, 3, init, { ...conv, padding: 1 }));
    this.bn2 = modules.add(new BatchNorm2d(`${name}.bn2`, planes));
    if ((stride !== 1 || inPlanes !== planes) && shortcut === 'projection') {
      this.downsample = [
        modules.add(new Conv2d(`${name}.downsample.0`, inPlanes, planes, 1, init, { ...conv, stride })),
        modules.add(new BatchNorm2d(`${name}.downsample.1`, planes)),
      ];
    }
  }

  apply(g: Graph, x: Node): Node {
    let out = relu(this.bn1.apply(g, this.conv1.apply(g, x)));
    out = this.bn2.apply(g, this.conv2.apply(g, out));
    return relu(add(out, this.identity(g, x)));
  }

  private identity(g: Graph, x: Node): Node {
    if (this.downsample) return this.downsample[1].apply(g, this.downsample[0].apply(g, x));
    if (this.stride === 1 && this.inPlanes === this.planes) return x;
    // Option A: x[:, :, ::stride, ::stride] (a 1x1 pool with that stride), then zero channels on both sides.
    const sub = this.stride === 1 ? x : atLayer(`${this.name}.shortcut`, x, () => avgPool2d(x, { kernel: 1, stride: this.stride }));
    const [N, , H, W] = sub.shape;
    const extra = this.planes - this.inPlanes;
    const front = Math.floor(extra / 2);
    const pieces = [g.constant([N, front, H, W], 0, `${this.name}.shortcut.pad`), sub, g.constant([N, extra - front, H, W], 0, `${this.name}.shortcut.pad`)];
    return concat(pieces.filter((p) => p.shape[1] > 0), 1);
  }
}

/** Global average pool to [N, C]. */
export function poolToVector(g: Graph, x: Node): Node {
  const y = atLayer('avgpool', x, () => globalAvgPool(x));
  return y.shape.length === 2 ? y : g.view(y, [y.shape[0], y.shape[1]]);
}

/**
 * Stages of BasicBlocks named layer1, layer2, ... as torchvision names them: stage i has `blocks` blocks of
 * planes[i] x width channels, and all but the first stage start with a stride-2 block. Returns the stages and
 * the channels they end with.
 */
export function basicStages(modules: Registry, inPlanes: number, planes: number[], blocks: number, width: number, init: Init,
  shortcut: Shortcut): { stages: BasicBlock[][]; outPlanes: number } {
  const stages: BasicBlock[][] = [];
  planes.forEach((base, i) => {
    const p = scaled(base, width);
    const stage: BasicBlock[] = [];
    for (let b = 0; b < blocks; b++) {
      stage.push(new BasicBlock(`layer${i + 1}.${b}`, b === 0 ? inPlanes : p, p, b === 0 && i > 0 ? 2 : 1, init, modules, shortcut));
    }
    inPlanes = p;
    stages.push(stage);
  });
  return { stages, outPlanes: inPlanes };
}

export interface ResNetOptions { width?: number; init?: WeightInit; stem?: 'imagenet' | 'cifar' }

/**
 * torchvision's resnet18 (BasicBlock, [2, 2, 2, 2]; 11,689,512 parameters at 1000 classes), names and init
 * as torchvision (kaiming_normal fan_out convs, batch norm 1/0, fc as nn.Linear). The 'cifar' stem replaces
 * the 7x7 stride-2 conv and the max pool with a 3x3 stride-1 conv (same names). Channels times `width`.
 */
export class ResNet18 implements Model {
  readonly name: string;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: BasicBlock[][] = [];
  readonly fc: Linear;
  private readonly modules = new Registry();
  private readonly stem: 'imagenet' | 'cifar';

  constructor(readonly inputShape: number[], readonly numClasses: number, rng: Rng, opts: ResNetOptions = {}) {
    const width = opts.width ?? 1;
    const init = new Init(rng, opts.init);
    this.stem = opts.stem ?? 'imagenet';
    this.name = this.stem === 'cifar' ? 'resnet18-cifar' : 'resnet18';
    const w0 = scaled(64, width);
    const conv = { bias: false, rule: 'kaiming-fan-out' as const };
    this.conv1 = this.modules.add(this.stem === 'cifar'
      ? new Conv2d('conv1', inputShape[0], w0, 3, init, { ...conv, padding: 1 })
      : new Conv2d('conv1', inputShape[0], w0, 7, init, { ...conv, stride: 2, padding: 3 }));
    this.bn1 = this.modules.add(new BatchNorm2d('bn1', w0));
    const { stages, outPlanes } = basicStages(this.modules, w0, [64, 128, 256, 512], 2, width, init, 'projection');
    this.layers.push(...stages);
    this.fc = this.modules.add(new Linear('fc', outPlanes, numClasses, init));
  }

  parameters(): Parameter[] { return this.modules.parameters(); }
  buffers(): Parameter[] { return this.modules.buffers(); }

  forward(g: Graph, x: Node): Node {
    checkInput(this, x);
    let h = relu(this.bn1.apply(g, this.conv1.apply(g, x)));
    if (this.stem === 'imagenet') {
      const s = h;
      h = atLayer('maxpool', s, () => maxPool2d(s, { kernel: 3, stride: 2, padding: 1 }));
    }
    for (const layer of this.layers) for (const block of layer) h = block.apply(g, h);
    return this.fc.apply(g, poolToVector(g, h));
  }
}

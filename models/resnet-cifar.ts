import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { relu } from '../engine/ops/elementwise.js';
import { Model } from './model.js';
import { BatchNorm2d, Conv2d, Linear, Init, Registry, WeightInit, scaled } from './layers.js';
import { BasicBlock, Shortcut, basicStages, poolToVector } from './resnet.js';
import { checkInput } from './shapes.js';

export interface CifarResNetOptions { width?: number; init?: WeightInit; shortcut?: Shortcut }

/**
 * The CIFAR ResNets of He et al. 2016 (section 4.2): a 3x3 conv of 16 channels, three stages of n basic blocks
 * with 16, 32 and 64 channels (the first block of stages 2 and 3 has stride 2), global average pooling and fc:
 * 6n + 2 layers (resnet20: n = 3, 269,722 parameters; resnet32: n = 5, 464,154 parameters, at 10 classes).
 * Shortcuts that change shape use option A (stride-2 subsampling and zero-padded channels, no parameters),
 * as the paper's CIFAR experiments do; 'projection' gives option B (1x1 conv + batch norm, downsample.0/1).
 * Names follow the common PyTorch port: conv1, bn1, layer1.0.conv1, ..., fc. Init as torchvision's ResNet
 * (kaiming_normal fan_out convs, batch norm 1/0, fc as nn.Linear). Channels times `width`.
 */
export class CifarResNet implements Model {
  readonly name: string;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: BasicBlock[][] = [];
  readonly fc: Linear;
  private readonly modules = new Registry();

  constructor(readonly depth: number, readonly inputShape: number[], readonly numClasses: number, rng: Rng, opts: CifarResNetOptions = {}) {
    if (!Number.isInteger((depth - 2) / 6) || depth < 8) throw new Error(`CIFAR ResNet depth ${depth} is not 6n + 2 (20, 32, 44, 56, 110)`);
    this.name = `resnet${depth}`;
    const n = (depth - 2) / 6;
    const width = opts.width ?? 1;
    const init = new Init(rng, opts.init);
    const w0 = scaled(16, width);
    this.conv1 = this.modules.add(new Conv2d('conv1', inputShape[0], w0, 3, init, { padding: 1, bias: false, rule: 'kaiming-fan-out' }));
    this.bn1 = this.modules.add(new BatchNorm2d('bn1', w0));
    const { stages, outPlanes } = basicStages(this.modules, w0, [16, 32, 64], n, width, init, opts.shortcut ?? 'pad');
    this.stages.push(...stages);
    this.fc = this.modules.add(new Linear('fc', outPlanes, numClasses, init));
  }

  parameters(): Parameter[] { return this.modules.parameters(); }
  buffers(): Parameter[] { return this.modules.buffers(); }

  forward(g: Graph, x: Node): Node {
    checkInput(this, x);
    let h = relu(this.bn1.apply(g, this.conv1.apply(g, x)));
    for (const stage of this.stages) for (const block of stage) h = block.apply(g, h);
    return this.fc.apply(g, poolToVector(g, h));
  }
}

import { Graph, Node, Parameter } from '../engine/graph.js';
import { Rng } from '../engine/random.js';
import { relu } from '../engine/ops/elementwise.js';
import { maxPool2d } from '../engine/ops/pool.js';
import { Model } from './model.js';
import { Conv2d, Linear, Init, Registry, WeightInit, atLayer, scaled } from './layers.js';
import { checkInput, featureShape } from './shapes.js';

/**
 * The small CNN of the benchmark (TensorFlow.js's MNIST example): conv 5x5 32 (same padding) -> ReLU ->
 * max pool 2 -> conv 5x5 64 -> ReLU -> max pool 2 -> fc 512 -> ReLU -> fc classes; channels and the hidden
 * layer times `width`. PyTorch default init; names conv1, conv2, fc1, fc2.
 * At 1x28x28 and width 1: 1,663,370 parameters, about 24.5 MFLOP per example forward (73.6 for a training step).
 */
export class SmallCnn implements Model {
  readonly name = 'small-cnn';
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly modules = new Registry();

  constructor(readonly inputShape: number[], readonly numClasses: number, rng: Rng, opts: { width?: number; init?: WeightInit } = {}) {
    const width = opts.width ?? 1;
    const init = new Init(rng, opts.init);
    const [c1, c2, hidden] = [scaled(32, width), scaled(64, width), scaled(512, width)];
    this.conv1 = this.modules.add(new Conv2d('conv1', inputShape[0], c1, 5, init, { padding: 2 }));
    this.conv2 = this.modules.add(new Conv2d('conv2', c1, c2, 5, init, { padding: 2 }));
    const features = featureShape(this.name, inputShape, (g, x) => this.features(g, x));
    this.fc1 = this.modules.add(new Linear('fc1', features.reduce((a, b) => a * b, 1), hidden, init));
    this.fc2 = this.modules.add(new Linear('fc2', hidden, numClasses, init));
  }

  parameters(): Parameter[] { return this.modules.parameters(); }
  buffers(): Parameter[] { return []; }

  private features(g: Graph, x: Node): Node {
    const h1 = relu(this.conv1.apply(g, x));
    const p1 = atLayer('pool1', h1, () => maxPool2d(h1, { kernel: 2 }));
    const h2 = relu(this.conv2.apply(g, p1));
    return atLayer('pool2', h2, () => maxPool2d(h2, { kernel: 2 }));
  }

  forward(g: Graph, x: Node): Node {
    checkInput(this, x);
    return this.fc2.apply(g, relu(this.fc1.apply(g, this.features(g, x))));
  }
}

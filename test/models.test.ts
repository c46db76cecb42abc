import { test } from 'uvu';
import { Graph } from '../engine/graph.js';
import { getGpu } from '../engine/context.js';
import { Trainer } from '../engine/trainer.js';
import { SumGroups } from '../engine/optim.js';
import { Rng } from '../engine/random.js';
import { parameterCount, Model } from '../models/model.js';
import { createModel, listModels, modelNames } from '../models/registry.js';
import { BatchCounter } from '../models/layers.js';

const rng = () => new Rng(7);

// Parameter counts of the reference definitions (trainable parameters, as sum(p.numel() for p in
// model.parameters()) in PyTorch): torchvision's resnet18, vgg13 and vgg13_bn at 1000 classes; inception_v3
// without AuxLogits (torchvision's 27,161,264 minus the aux head, computed below); He et al.'s CIFAR ResNets
// with option A shortcuts (0.27M and 0.46M in the paper).
const AUX_LOGITS = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000);
const KNOWN: [string, number[], number, number][] = [
  ['resnet18', [3, 224, 224], 1000, 11_689_512],
  ['vgg13', [3, 224, 224], 1000, 133_047_848],
  ['vgg13_bn', [3, 224, 224], 1000, 133_053_736],
  ['inception_v3', [3, 299, 299], 1000, 27_161_264 - AUX_LOGITS],
  ['resnet20', [3, 32, 32], 10, 269_722],
  ['resnet32', [3, 32, 32], 10, 464_154],
  // resnet18 with a 3x3 stem and 10 classes: torchvision's count - 64*3*7*7 + 64*3*3*3 - (512*1000+1000) + (512*10+10).
  ['resnet18-cifar', [3, 32, 32], 10, 11_689_512 - 9408 + 1728 - 513_000 + 5130],
  // conv1 1*32*25+32, conv2 32*64*25+64, fc1 (64*7*7)*512+512, fc2 512*10+10.
  ['small-cnn', [1, 28, 28], 10, 832 + 51_264 + 1_606_144 + 5130],
  // The Coherent Gradients MNIST network: 784-256-256-256-10.
  ['mlp', [1, 28, 28], 10, 785 * 256 + 2 * 257 * 256 + 257 * 10],
];

test('parameter counts match the reference definitions at the standard sizes (no GPU needed)', () => {
  if (AUX_LOGITS !== 3_326_696) throw new Error(`aux head has ${AUX_LOGITS} parameters`);
  for (const [name, inputShape, numClasses, want] of KNOWN) {
    const got = parameterCount(createModel(name, { inputShape, numClasses, rng: rng(), init: 'none' }));
    if (got !== want) throw new Error(`${name}: ${got} parameters, expected ${want}`);
  }
  const listed = new Map(listModels().map((m) => [m.name, m.parameters]));
  for (const [name, , , want] of KNOWN) if (listed.get(name) !== want) throw new Error(`listModels: ${name} has ${listed.get(name)}`);
  if (modelNames().join() !== 'mlp,small-cnn,resnet18,resnet18-cifar,resnet20,resnet32,vgg13,vgg13_bn,inception_v3') throw new Error(`names: ${modelNames()}`);
});

function shapesByName(m: Model): Map<string, string> {
  return new Map([...m.parameters(), ...m.buffers()].map((p) => [p.name, p.shape.join('x')]));
}

test('state_dict names and shapes follow torchvision', () => {
  const expect = (m: Model, entries: Record<string, string>, total: number) => {
    const s = shapesByName(m);
    for (const [k, v] of Object.entries(entries)) if (s.get(k) !== v) throw new Error(`${m.name}: ${k} is ${s.get(k)}, expected ${v}`);
    if (s.size !== total) throw new Error(`${m.name}: ${s.size} state_dict entries, expected ${total}`);
  };
  const o = { rng: rng(), init: 'none' as const };
  // resnet18: 62 parameters + 20 batch norms x 3 buffers = 122 entries.
  expect(createModel('resnet18', o), {
    'conv1.weight': '64x3x7x7', 'layer1.0.bn2.running_var': '64', 'layer2.0.downsample.0.weight': '128x64x1x1',
    'layer2.0.downsample.1.num_batches_tracked': '', 'layer4.1.conv2.weight': '512x512x3x3', 'fc.weight': '1000x512', 'fc.bias': '1000',
  }, 122);
  expect(createModel('vgg13', o), {
    'features.0.weight': '64x3x3x3', 'features.2.bias': '64', 'features.5.weight': '128x64x3x3', 'features.22.weight': '512x512x3x3',
    'classifier.0.weight': '4096x25088', 'classifier.3.weight': '4096x4096', 'classifier.6.bias': '1000',
  }, 26);
  expect(createModel('vgg13_bn', o), {
    'features.1.running_mean': '64', 'features.3.weight': '64x64x3x3', 'features.31.weight': '512x512x3x3',
    'features.32.num_batches_tracked': '', 'classifier.6.weight': '1000x4096',
  }, 26 + 10 * 5);
  // inception_v3: 94 BasicConv2d (a conv weight and five batch-norm entries each) plus fc.
  expect(createModel('inception_v3', o), {
    'Conv2d_1a_3x3.conv.weight': '32x3x3x3', 'Conv2d_4a_3x3.bn.running_var': '192', 'Mixed_5b.branch_pool.conv.weight': '32x192x1x1',
    'Mixed_6a.branch3x3.conv.weight': '384x288x3x3', 'Mixed_6e.branch7x7dbl_5.conv.weight': '192x192x1x7',
    'Mixed_7a.branch7x7x3_4.conv.weight': '192x192x3x3', 'Mixed_7c.branch3x3dbl_3b.conv.weight': '384x384x3x1',
    'Mixed_7c.branch_pool.bn.num_batches_tracked': '', 'fc.weight': '1000x2048',
  }, 94 * 6 + 2);
  expect(createModel('resnet32', o), {
    'conv1.weight': '16x3x3x3', 'layer1.4.conv2.weight': '16x16x3x3', 'layer2.0.conv1.weight': '32x16x3x3', 'layer3.4.bn2.bias': '64', 'fc.weight': '10x64',
  }, 6 + 15 * 12 + 2);
  const counter = createModel('resnet20', o).buffers().find((b) => b.name === 'bn1.num_batches_tracked');
  if (!(counter instanceof BatchCounter) || counter.safetensorsDtype !== 'I64' || counter.shape.length !== 0) throw new Error('num_batches_tracked is not an I64 scalar counter');
});

test('initialisation follows torchvision: kaiming fan_out convs, batch norm 1/0, running stats 0/1', () => {
  const m = createModel('resnet20', { rng: rng() });
  const byName = new Map([...m.parameters(), ...m.buffers()].map((p) => [p.name, p]));
  const w = byName.get('layer3.0.conv2.weight')!.init;
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  const want = Math.sqrt(2 / (64 * 9));
  if (Math.abs(std - want) > 0.05 * want) throw new Error(`conv std ${std}, expected ${want}`);
  const check = (name: string, v: number) => { if (byName.get(name)!.init.some((x) => x !== v)) throw new Error(`${name} is not all ${v}`); };
  check('bn1.weight', 1); check('bn1.bias', 0); check('bn1.running_mean', 0); check('bn1.running_var', 1); check('bn1.num_batches_tracked', 0);
  const fc = createModel('vgg13', { rng: rng(), width: 1 / 16 }).parameters().find((p) => p.name === 'classifier.6.weight')!.init;
  const fstd = Math.sqrt(fc.reduce((s, v) => s + v * v, 0) / fc.length);
  if (Math.abs(fstd - 0.01) > 0.001) throw new Error(`vgg classifier std ${fstd}, expected 0.01`);
  const inc = createModel('inception_v3', { rng: rng(), width: 1 / 8, inputShape: [3, 75, 75] }).parameters().find((p) => p.name === 'Mixed_5b.branch1x1.conv.weight')!.init;
  if (inc.some((v) => Math.abs(v) > 0.2)) throw new Error('inception conv weights exceed the 2-std truncation');
});

test('output shapes for stated input sizes, widths and classes', () => {
  const cases: [string, number[], number, number][] = [
    ['small-cnn', [1, 28, 28], 10, 1], ['small-cnn', [3, 32, 32], 7, 0.5], ['resnet18', [3, 64, 64], 100, 0.25],
    ['resnet18', [1, 28, 28], 10, 0.125], ['resnet18-cifar', [3, 32, 32], 10, 0.25], ['resnet20', [1, 28, 28], 10, 1],
    ['resnet32', [3, 32, 32], 10, 0.5], ['vgg13', [3, 32, 32], 10, 0.125], ['vgg13_bn', [3, 48, 40], 5, 0.125],
    ['inception_v3', [3, 75, 75], 10, 0.125], ['inception_v3', [3, 299, 299], 1000, 1], ['mlp', [1, 28, 28], 10, 1],
  ];
  for (const [name, inputShape, numClasses, width] of cases) {
    const m = createModel(name, { inputShape, numClasses, width, rng: rng(), init: 'none' });
    for (const mode of ['train', 'eval'] as const) {
      const g = new Graph();
      g.mode = mode;
      const y = m.forward(g, g.input('x', [4, ...inputShape]));
      if (y.shape.join() !== `4,${numClasses}`) throw new Error(`${name} ${inputShape} ${mode}: output [${y.shape}]`);
    }
  }
});

function throwsOneLine(f: () => unknown, ...parts: string[]) {
  try { f(); } catch (e) {
    const m = (e as Error).message;
    if (m.includes('\n') || !parts.every((p) => m.includes(p))) throw new Error(`unexpected error: ${m}`);
    return;
  }
  throw new Error(`expected an error mentioning ${parts.join(', ')}`);
}

test('bad input gives one-line errors naming the layer and shapes', () => {
  const o = { rng: rng(), init: 'none' as const };
  throwsOneLine(() => createModel('resnet50', o), "unknown model 'resnet50'", 'known models: mlp, small-cnn');
  throwsOneLine(() => createModel('vgg13', { ...o, inputShape: [3, 16, 16] }), 'vgg13 with input [3,16,16]', 'features.24', '[1,512,1,1]');
  throwsOneLine(() => createModel('inception_v3', { ...o, inputShape: [3, 74, 74] }), 'inception_v3 with input [3,74,74]', 'Mixed_7a', 'output of size 0');
  throwsOneLine(() => createModel('small-cnn', { ...o, inputShape: [1, 3, 3] }), 'small-cnn', 'pool2');
  throwsOneLine(() => createModel('resnet18', { ...o, inputShape: [3, 224] }), 'resnet18: input shape [3,224] is not [channels, height, width]');
  throwsOneLine(() => createModel('resnet20', { ...o, width: 0 }), 'width multiplier 0');
  const m = createModel('resnet20', { ...o, inputShape: [3, 32, 32] });
  const g = new Graph();
  throwsOneLine(() => m.forward(g, g.input('x', [2, 1, 32, 32])), 'resnet20: expects input [B,3,32,32], got [2,1,32,32]', '1 channels where the model takes 3');
  const conv = (m as any).conv1;
  throwsOneLine(() => conv.apply(g, g.input('y', [2, 1, 32, 32])), 'conv1: expects input [N, 3, H, W], got [2,1,32,32]');
});

/**
 * One SGD step in train mode and an evaluation in eval mode on random data; everything stays finite. With
 * `groups` > 1 the step reduces gradients (and batch-norm statistics) in that many groups of the batch.
 */
async function trainAndEvaluate(name: string, inputShape: number[], width: number, batch: number, groups = 1) {
  const gpu = await getGpu();
  const r = new Rng(11);
  const model = createModel(name, { inputShape, numClasses: 5, width, rng: r });
  const transform = new SumGroups(groups);
  const trainer = new Trainer(gpu, model, { batchSize: batch, sgd: { lr: 0.01, momentum: 0.9, weightDecay: 0 }, evalBatchSize: batch, transform });
  const n = batch * inputShape.reduce((a, b) => a * b, 1);
  const images = Float32Array.from({ length: n }, () => r.normal());
  const labels = Int32Array.from({ length: batch }, () => r.int(5));
  const before = await Promise.all(model.parameters().map((p) => gpu.read(p.ensure(gpu), p.size)));
  trainer.step(images, labels, 0, 0.01);
  const m = await trainer.takeMetrics();
  if (!Number.isFinite(m.loss) || m.nonFiniteStep !== null) throw new Error(`${name}: training loss ${m.loss}`);
  let changed = 0;
  for (const [i, p] of model.parameters().entries()) {
    const after = await gpu.read(p.buffer!, p.size);
    if (after.some((v) => !Number.isFinite(v))) throw new Error(`${name}: ${p.name} is not finite after a step`);
    if (after.some((v, j) => v !== before[i][j])) changed++;
  }
  // Without weight decay only a gradient moves a parameter: every one must be on the loss path.
  if (changed !== model.parameters().length) throw new Error(`${name}: ${model.parameters().length - changed} parameters did not change`);
  for (const b of model.buffers()) {
    const v = await gpu.read(b.ensure(gpu), b.size);
    if (v.some((x) => !Number.isFinite(x))) throw new Error(`${name}: ${b.name} is not finite`);
    // Once per step, or once per group: each group is a micro-batch.
    if (b.name.endsWith('num_batches_tracked') && v[0] !== groups) throw new Error(`${name}: ${b.name} is ${v[0]} after one step of ${groups} groups`);
  }
  const ev = await trainer.evaluate({ images, labels, n: batch });
  if (!Number.isFinite(ev.loss)) throw new Error(`${name}: eval loss ${ev.loss}`);
  // Evaluation (eval mode) leaves the running statistics alone.
  const counter = model.buffers().find((b) => b.name.endsWith('num_batches_tracked'));
  if (counter && (await gpu.read(counter.buffer!, 1))[0] !== groups) throw new Error(`${name}: evaluation changed ${counter.name}`);
}

// Small inputs and widths keep each model to a few seconds on a CPU adapter.
const SMALL: [string, number[], number, number][] = [
  ['small-cnn', [1, 12, 12], 0.25, 4],
  ['resnet18', [3, 32, 32], 1 / 16, 2],
  ['resnet18-cifar', [3, 12, 12], 1 / 16, 2],
  ['resnet20', [1, 12, 12], 0.25, 4],
  ['resnet32', [3, 10, 10], 0.25, 2],
  ['vgg13', [3, 32, 32], 1 / 32, 2],
  ['vgg13_bn', [3, 32, 32], 1 / 32, 2],
  ['inception_v3', [3, 75, 75], 1 / 16, 2],
];
for (const [name, inputShape, width, batch] of SMALL) {
  test(`${name}: a training step and an evaluation on a small input are finite`, () => trainAndEvaluate(name, inputShape, width, batch));
}

test('resnet20 and vgg13_bn train with gradient groups (per-group batch statistics)', async () => {
  await trainAndEvaluate('resnet20', [1, 12, 12], 0.25, 6, 3);
  await trainAndEvaluate('vgg13_bn', [3, 32, 32], 1 / 32, 4, 2);
});

test.run();

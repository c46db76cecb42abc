import { Rng } from '../engine/random.js';
import { Mlp } from './mlp.js';
import { Model, parameterCount } from './model.js';
import { WeightInit } from './layers.js';
import { SmallCnn } from './small-cnn.js';
import { ResNet18 } from './resnet.js';
import { CifarResNet } from './resnet-cifar.js';
import { Vgg } from './vgg.js';
import { InceptionV3 } from './inception.js';
import { checkModel } from './shapes.js';

export interface ModelOptions {
  /** [C, H, W] of one example (default: the model's standard input). */
  inputShape?: number[];
  /** Default: 1000 for the ImageNet models, 10 for the others. */
  numClasses?: number;
  /** Channel (and hidden-layer) multiplier for small-scale runs; default 1. */
  width?: number;
  rng: Rng;
  /** Hidden widths of the mlp (default [256, 256, 256], the Coherent Gradients MNIST network). */
  hidden?: number[];
  init?: WeightInit;
}

interface Entry {
  description: string;
  inputShape: number[];
  numClasses: number;
  build(inputShape: number[], numClasses: number, o: ModelOptions & { width: number; init: WeightInit }): Model;
}

const MODELS: Record<string, Entry> = {
  'mlp': {
    description: 'fully connected ReLU network (layers.0, layers.2, ...); hidden widths times width',
    inputShape: [1, 28, 28], numClasses: 10,
    build: (s, k, o) => {
      const hidden = (o.hidden ?? [256, 256, 256]).map((h) => Math.max(1, Math.round(h * o.width)));
      const m = new Mlp(s, k, hidden, o.rng, o.init === 'glorot-cg' ? 'glorot-cg' : 'pytorch');
      if (o.init === 'none') for (const p of m.parameters()) p.init.fill(0);
      return m;
    },
  },
  'small-cnn': {
    description: 'conv5x5 32 - pool - conv5x5 64 - pool - fc 512 - fc (the benchmark CNN)',
    inputShape: [1, 28, 28], numClasses: 10,
    build: (s, k, o) => new SmallCnn(s, k, o.rng, o),
  },
  'resnet18': {
    description: 'torchvision resnet18, ImageNet stem (7x7/2 conv, max pool)',
    inputShape: [3, 224, 224], numClasses: 1000,
    build: (s, k, o) => new ResNet18(s, k, o.rng, { ...o, stem: 'imagenet' }),
  },
  'resnet18-cifar': {
    description: 'resnet18 with a CIFAR stem (3x3/1 conv, no max pool); torchvision names',
    inputShape: [3, 32, 32], numClasses: 10,
    build: (s, k, o) => new ResNet18(s, k, o.rng, { ...o, stem: 'cifar' }),
  },
  'resnet20': {
    description: 'CIFAR ResNet of He et al. 2016, 3x3 blocks per stage, 16/32/64 channels, option A shortcuts',
    inputShape: [3, 32, 32], numClasses: 10,
    build: (s, k, o) => new CifarResNet(20, s, k, o.rng, o),
  },
  'resnet32': {
    description: 'CIFAR ResNet of He et al. 2016, 3x5 blocks per stage, 16/32/64 channels, option A shortcuts',
    inputShape: [3, 32, 32], numClasses: 10,
    build: (s, k, o) => new CifarResNet(32, s, k, o.rng, o),
  },
  'vgg13': {
    description: 'torchvision vgg13 (adaptive 7x7 pool, classifier with dropout)',
    inputShape: [3, 224, 224], numClasses: 1000,
    build: (s, k, o) => new Vgg(s, k, o.rng, { ...o, batchNorm: false }),
  },
  'vgg13_bn': {
    description: 'torchvision vgg13_bn',
    inputShape: [3, 224, 224], numClasses: 1000,
    build: (s, k, o) => new Vgg(s, k, o.rng, { ...o, batchNorm: true }),
  },
  'inception_v3': {
    description: 'torchvision inception_v3 without auxiliary logits (input at least 75x75)',
    inputShape: [3, 299, 299], numClasses: 1000,
    build: (s, k, o) => new InceptionV3(s, k, o.rng, o),
  },
};

export class ModelError extends Error {
  override name = 'ModelError';
}

/**
 * A model by name, validated for its input: an input too small for the model (a spatial size reaching zero)
 * fails here with a one-line error naming the layer and shapes.
 */
export function createModel(name: string, opts: ModelOptions): Model {
  const entry = MODELS[name];
  if (!entry) throw new ModelError(`unknown model '${name}'; known models: ${Object.keys(MODELS).join(', ')}`);
  const inputShape = opts.inputShape ?? entry.inputShape;
  const numClasses = opts.numClasses ?? entry.numClasses;
  const width = opts.width ?? 1;
  if (inputShape.length !== 3 || !inputShape.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new ModelError(`${name}: input shape [${inputShape}] is not [channels, height, width] of positive integers`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ModelError(`${name}: number of classes ${numClasses} is not a positive integer`);
  if (!(width > 0) || !Number.isFinite(width)) throw new ModelError(`${name}: width multiplier ${width} must be a positive number`);
  if (!opts.rng) throw new ModelError(`${name}: no generator given; pass rng`);
  try {
    const model = entry.build(inputShape, numClasses, { ...opts, width, init: opts.init ?? 'pytorch' });
    checkModel(model);
    return model;
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError((e as Error).message.split('\n')[0]);
  }
}

export interface ModelListing {
  name: string;
  description: string;
  inputShape: number[];
  numClasses: number;
  /** Trainable parameters for the input settings, or null where the input does not fit the model. */
  parameters: number | null;
  /** Why the input does not fit, when it does not. */
  error?: string;
}

/**
 * Every model with its parameter count for the given input settings (each model's standard input where
 * none is given). Counting builds the models with zero weights, so it is quick even for VGG.
 */
export function listModels(settings: Omit<ModelOptions, 'rng' | 'init'> = {}): ModelListing[] {
  return Object.entries(MODELS).map(([name, e]) => {
    const inputShape = settings.inputShape ?? e.inputShape;
    const numClasses = settings.numClasses ?? e.numClasses;
    try {
      const m = createModel(name, { ...settings, inputShape, numClasses, rng: new Rng(0), init: 'none' });
      return { name, description: e.description, inputShape, numClasses, parameters: parameterCount(m) };
    } catch (err) {
      return { name, description: e.description, inputShape, numClasses, parameters: null, error: (err as Error).message };
    }
  });
}

export function modelNames(): string[] { return Object.keys(MODELS); }

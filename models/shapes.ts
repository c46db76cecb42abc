import { Graph, Node } from '../engine/graph.js';
import type { Model } from './model.js';

/** One-line error unless x is [B, ...model.inputShape]. */
export function checkInput(model: Pick<Model, 'name' | 'inputShape'>, x: Node): void {
  const want = model.inputShape;
  const ok = x.shape.length === want.length + 1 && want.every((v, i) => x.shape[i + 1] === v);
  if (!ok) {
    const channels = x.shape.length === 4 && want.length === 3 && x.shape[1] !== want[0] ? ` (${x.shape[1]} channels where the model takes ${want[0]})` : '';
    throw new Error(`${model.name}: expects input [B,${want}], got [${x.shape}]${channels}; build the model for this input shape`);
  }
}

/**
 * Shape of one example after `build`, found by building it on a scratch graph (no GPU work): how a model
 * sizes its first dense layer, and where an input too small for the model is reported, naming the layer.
 */
export function featureShape(name: string, inputShape: number[], build: (g: Graph, x: Node) => Node): number[] {
  const g = new Graph();
  g.mode = 'eval';
  try {
    return build(g, g.input('x', [1, ...inputShape])).shape.slice(1);
  } catch (e) {
    throw new Error(`${name} with input [${inputShape}]: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Validates a whole model on a scratch graph: its output is [1, numClasses] for one example. */
export function checkModel(model: Model): void {
  const shape = featureShape(model.name, model.inputShape, (g, x) => model.forward(g, x));
  if (shape.length !== 1 || shape[0] !== model.numClasses) throw new Error(`${model.name}: output per example is [${shape}], expected [${model.numClasses}]`);
}

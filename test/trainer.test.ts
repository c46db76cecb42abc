import { test } from 'uvu';
import { getGpu } from '../engine/context.js';
import { Trainer } from '../engine/trainer.js';
import { Mlp } from '../models/mlp.js';
import { Rng } from '../engine/random.js';
import { Parameter } from '../engine/graph.js';
import { randn, assertClose } from './helpers/check.js';
import { refGradients, RefLayer } from './helpers/ref-mlp.js';
import { withPlans } from './helpers/plans.js';

test('three recorded SGD steps with momentum and weight decay match a float64 reference MLP', async () => {
  const gpu = await getGpu();
  const rng = new Rng(5);
  const [B, inp, C] = [6, 13, 5];
  const model = new Mlp([inp], C, [7, 9], rng);
  const sgd = { lr: 0.3, momentum: 0.9, weightDecay: 0.01 };
  const trainer = new Trainer(gpu, model, { batchSize: B, sgd });
  const layers: RefLayer[] = model.layers.map((l) => ({ W: Float64Array.from(l.weight.init), b: Float64Array.from(l.bias!.init), out: l.outFeatures, inp: l.inFeatures }));
  const mom = layers.map((L) => ({ W: new Float64Array(L.W.length), b: new Float64Array(L.b.length) }));
  for (let step = 0; step < 3; step++) {
    const x = randn(rng, B * inp);
    const y = new Int32Array(B).map(() => rng.int(C));
    trainer.step(x, y, step, sgd.lr);
    const { grads } = refGradients(layers, Float64Array.from(x), y, B);
    layers.forEach((L, li) => {
      for (const k of ['W', 'b'] as const) {
        const w = L[k], g = grads[li][k], m = mom[li][k];
        for (let i = 0; i < w.length; i++) {
          const gi = g[i] + sgd.weightDecay * w[i];
          m[i] = step === 0 ? gi : sgd.momentum * m[i] + gi;
          w[i] -= sgd.lr * m[i];
        }
      }
    });
  }
  const metrics = await trainer.takeMetrics();
  if (metrics.examples !== 3 * B) throw new Error(`metrics counted ${metrics.examples} examples`);
  for (let li = 0; li < layers.length; li++) {
    const l = model.layers[li];
    assertClose(`${l.weight.name}`, await gpu.read(l.weight.buffer!, l.weight.size), layers[li].W, 1e-5, 1e-4);
    assertClose(`${l.bias!.name}`, await gpu.read(l.bias!.buffer!, l.bias!.size), layers[li].b, 1e-5, 1e-4);
  }
  // Plain SGD adds the decay inside the update: no pass of its own.
  const undecayed = new Trainer(gpu, new Mlp([inp], C, [7, 9], new Rng(5)), { batchSize: B, sgd: { ...sgd, weightDecay: 0 } });
  if (undecayed.dispatchesPerStep !== trainer.dispatchesPerStep) {
    throw new Error(`weight decay adds ${trainer.dispatchesPerStep - undecayed.dispatchesPerStep} dispatches per step`);
  }
});

/**
 * Six steps of a fresh MLP on the same batches; `wait` reads the metrics after every step, otherwise the loop only
 * settles (at most two steps ahead), refills one pair of arrays in place, and reads the metrics once at the end.
 */
interface SixSteps { loss: number; accuracy: number; examples: number; weights: Float32Array[]; dispatches: number }

async function sixSteps(wait: boolean, pipelined?: boolean): Promise<SixSteps> {
  const gpu = await getGpu();
  const rng = new Rng(8);
  const [B, inp, C] = [12, 21, 5];
  const model = new Mlp([inp], C, [33], rng);
  const trainer = new Trainer(gpu, model, { batchSize: B, sgd: { lr: 0.1, momentum: 0.9, weightDecay: 0 }, pipelined });
  const x = new Float32Array(B * inp), y = new Int32Array(B);
  let loss = 0, right = 0, examples = 0;
  for (let step = 0; step < 6; step++) {
    x.set(randn(rng, B * inp));
    y.set(y.map(() => rng.int(C)));
    trainer.step(x, y, step, 0.1);
    if (wait) {
      const m = await trainer.takeMetrics();
      loss += m.loss * m.examples; right += m.accuracy * m.examples; examples += m.examples;
    } else await trainer.settle(2);
  }
  if (!wait) {
    const m = await trainer.takeMetrics();
    loss = m.loss * m.examples; right = m.accuracy * m.examples; examples = m.examples;
  }
  const weights = [];
  for (const p of model.parameters()) weights.push((await gpu.read(p.buffer!, p.size)) as Float32Array);
  return { loss: loss / examples, accuracy: right / examples, examples, weights, dispatches: trainer.dispatchesPerStep };
}

test('steps without a wait (settle, arrays refilled in place, one metrics read) train exactly as steps waited on; so do the gpu plans', async () => {
  const waited = await sixSteps(true);
  const ahead = await sixSteps(false);
  if (ahead.examples !== 72 || waited.examples !== 72) throw new Error(`counted ${ahead.examples} and ${waited.examples} examples`);
  assertClose('mean loss', [ahead.loss], [waited.loss], 1e-6, 1e-6);
  if (ahead.accuracy !== waited.accuracy) throw new Error(`accuracy ${ahead.accuracy} vs ${waited.accuracy}`);
  ahead.weights.forEach((w, i) => { if (w.some((v, j) => v !== waited.weights[i][j])) throw new Error(`parameter ${i} differs`); });
  if (!(ahead.dispatches > 4)) throw new Error(`${ahead.dispatches} dispatches per step`);
  // settle as on a GPU: waits on fences, leaving the later steps queued.
  const fenced = await sixSteps(false, true);
  if (fenced.loss !== ahead.loss || fenced.accuracy !== ahead.accuracy) throw new Error(`fenced steps: ${fenced.loss}, ${fenced.accuracy}`);
  fenced.weights.forEach((w, i) => { if (w.some((v, j) => v !== waited.weights[i][j])) throw new Error(`fenced steps: parameter ${i} differs`); });
  const tiled = await withPlans('gpu', () => sixSteps(false));
  assertClose('gpu plans: mean loss', [tiled.loss], [waited.loss], 1e-5, 1e-5);
  tiled.weights.forEach((w, i) => assertClose(`gpu plans: parameter ${i}`, w, waited.weights[i], 1e-5, 1e-4));
});

test('weight decay on a parameter the loss does not use shrinks it geometrically (its zero gradient is not accumulated)', async () => {
  const gpu = await getGpu();
  const rng = new Rng(6);
  const model = new Mlp([4], 3, [], rng);
  const unused = new Parameter('unused', [5], new Float32Array([1, -2, 3, -4, 0.5]));
  const net = { inputShape: model.inputShape, numClasses: 3, parameters: () => [...model.parameters(), unused], buffers: () => [], forward: model.forward.bind(model) };
  const sgd = { lr: 0.5, momentum: 0, weightDecay: 0.1 };
  const trainer = new Trainer(gpu, net, { batchSize: 2, sgd });
  for (let step = 0; step < 4; step++) trainer.step(randn(rng, 8), new Int32Array([0, 2]), step, sgd.lr);
  const want = Array.from(unused.init, (v) => v * (1 - sgd.lr * sgd.weightDecay) ** 4);
  assertClose('unused parameter', await gpu.read(unused.buffer!, 5), want, 1e-6, 1e-5);
});

test.run();

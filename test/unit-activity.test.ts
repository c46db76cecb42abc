import { test } from 'uvu';
import { getGpu } from '../engine/context.js';
import { UnitActivity } from '../engine/unit-activity.js';
import { Mlp } from '../models/mlp.js';
import { Rng } from '../engine/random.js';
import { randn } from './helpers/check.js';
import { relu } from '../engine/ops/elementwise.js';
import type { Graph, Node } from '../engine/graph.js';

/** Float64 reference: per hidden layer, which units have a positive output on at least one example. */
function refFires(model: Mlp, images: Float32Array, n: number): boolean[][] {
  const fires = model.layers.slice(0, -1).map((l) => new Array<boolean>(l.outFeatures).fill(false));
  for (let e = 0; e < n; e++) {
    let h = Array.from(images.subarray(e * model.layers[0].inFeatures, (e + 1) * model.layers[0].inFeatures), Number);
    model.layers.slice(0, -1).forEach((l, li) => {
      const out: number[] = [];
      for (let o = 0; o < l.outFeatures; o++) {
        let s = Number(l.bias!.init[o]);
        for (let i = 0; i < l.inFeatures; i++) s += Number(l.weight.init[o * l.inFeatures + i]) * h[i];
        out.push(Math.max(0, s));
        if (s > 0) fires[li][o] = true;
      }
      h = out;
    });
  }
  return fires;
}

test('dead-unit count of an MLP matches a float64 reference, including a unit only the last example fires', async () => {
  const gpu = await getGpu();
  const rng = new Rng(11);
  const [inp, n, B] = [11, 23, 7];
  const model = new Mlp([inp], 5, [13, 9], rng);
  const images = randn(rng, n * inp);
  for (let e = 0; e < n; e++) images[e * inp] = e === n - 1 ? 10 : e === 0 ? -10 : 0;
  const first = model.layers[0];
  // Unit 0 fires only on the last example (in the short last batch), unit 1 only on the first.
  for (const [unit, sign] of [[0, 1], [1, -1]]) {
    first.weight.init.fill(0, unit * inp, (unit + 1) * inp);
    first.weight.init[unit * inp] = sign;
    first.bias!.init[unit] = -5;
  }
  for (const unit of [2, 3, 4, 5]) first.bias!.init[unit] = -100; // never fire
  const second = model.layers[1];
  for (const unit of [0, 7]) second.bias!.init[unit] = -100;

  const ref = refFires(model, images, n);
  const activity = new UnitActivity(gpu, model, B);
  const result = await activity.measure({ images, labels: new Int32Array(n), n });
  const refDead = ref.map((l) => l.filter((f) => !f).length);
  if (!ref[0][0] || !ref[0][1]) throw new Error('the reference lost the units that fire on one example');
  if (refDead[0] < 4 || refDead[1] < 2) throw new Error(`the reference has too few dead units: ${refDead}`);
  const got = result.layers.map((l) => l.dead);
  if (got.join() !== refDead.join()) throw new Error(`dead units per layer: GPU ${got}, float64 ${refDead}`);
  if (result.units !== 22 || result.dead !== refDead[0] + refDead[1]) throw new Error(`totals ${result.dead} of ${result.units}`);
  if (Math.abs(result.deadFraction - result.dead / 22) > 1e-12) throw new Error(`fraction ${result.deadFraction}`);

  // A second pass of the same object starts from a cleared maximum: on the middle examples alone, units 0 and 1 are dead.
  const middle = images.slice(inp, (n - 1) * inp);
  const again = await activity.measure({ images: middle, labels: new Int32Array(n - 2), n: n - 2 });
  const refMiddle = refFires(model, middle, n - 2).map((l) => l.filter((f) => !f).length);
  const gotMiddle = again.layers.map((l) => l.dead);
  if (gotMiddle.join() !== refMiddle.join()) throw new Error(`middle examples: GPU ${gotMiddle}, float64 ${refMiddle}`);
  if (refMiddle[0] < refDead[0] + 2) throw new Error('without the first and last examples units 0 and 1 should be dead');
});

test('a conv-shaped activation [N, C, H, W] counts a channel as one unit that fires if any position does', async () => {
  const gpu = await getGpu();
  const [C, H, W, n, B] = [5, 3, 7, 9, 4];
  // A network whose only layer is a ReLU of its input, so the float64 reference is the input's sign.
  const net = { inputShape: [C, H, W], numClasses: 1, parameters: () => [], buffers: () => [], forward: (_g: Graph, x: Node) => relu(x) };
  const images = new Float32Array(n * C * H * W).fill(-1);
  const at = (e: number, c: number, h: number, w: number) => ((e * C + c) * H + h) * W + w;
  images[at(8, 0, 2, 6)] = 0.5; // channel 0: only the last example's last position
  images[at(0, 2, 0, 0)] = 1e-3; // channel 2: only the first example's first position
  images[at(4, 3, 1, 3)] = 0; // channel 3: a zero output does not fire
  for (let e = 0; e < n; e++) images[at(e, 4, 1, 1)] = 2; // channel 4: every example
  const result = await new UnitActivity(gpu, net, B).measure({ images, labels: new Int32Array(n), n });
  const l = result.layers[0];
  if (result.layers.length !== 1 || l.units !== C || l.dead !== 2) {
    throw new Error(`conv units: ${JSON.stringify(result.layers)} (expected 2 dead of 5: channels 1 and 3)`);
  }
});

test.run();

// Timing each dispatch with timestamp queries (engine/profile.ts), as `cgh bench --only gpu --profile` does: one time per
// dispatch in the list's order, the dispatches really run, lists longer than one query set, kernel totals, and the
// one-line error on a device without the feature. No assertion is on how long anything takes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getGpu } from '../engine/context.js';
import { Trainer } from '../engine/trainer.js';
import { Mlp } from '../models/mlp.js';
import { Rng } from '../engine/random.js';
import { timeDispatches, byKernel } from '../engine/profile.js';
import type { Gpu } from '../engine/gpu.js';
import { formatProfiles } from '../cli/bench/gpu.js';
import { randn, assertThrowsLine } from './helpers/check.js';

async function tinyTrainer() {
  const gpu = await getGpu();
  const rng = new Rng(3);
  const model = new Mlp([9], 4, [7], rng);
  const trainer = new Trainer(gpu, model, { batchSize: 5, sgd: { lr: 0.5, momentum: 0, weightDecay: 0 } });
  trainer.step(randn(rng, 45), new Int32Array([0, 1, 2, 3, 0]), 0, 0.5);
  await trainer.takeMetrics();
  return { gpu, model, trainer };
}

test("a training step's dispatches: one time each, in order, and they run (the update moves the weights)", async () => {
  const { gpu, model, trainer } = await tinyTrainer();
  const weight = model.layers[0].weight;
  const before = await gpu.read(weight.buffer!, weight.size);
  const list = trainer.stepDispatches;
  assert.is(list.length, trainer.dispatchesPerStep);
  const times = await timeDispatches(gpu, list, 2);
  assert.is(times.length, list.length);
  times.forEach((t, i) => {
    assert.is(t.label, list[i].label);
    assert.ok(Number.isFinite(t.ms) && t.ms > 0, `${t.label}: ${t.ms} ms`);
  });
  assert.ok(times.some((t) => t.kernel === 'sgd:step'), times.map((t) => t.kernel).join(' '));
  const after = await gpu.read(weight.buffer!, weight.size);
  assert.ok(after.some((v, i) => v !== before[i]), 'the timed update changed no weight');
  const totals = byKernel(times);
  assert.is(totals.reduce((a, k) => a + k.count, 0), times.length);
  assert.ok(Math.abs(totals.reduce((a, k) => a + k.ms, 0) - times.reduce((a, t) => a + t.ms, 0)) < 1e-9);
  assert.ok(totals.every((k, i) => i === 0 || totals[i - 1].ms >= k.ms), 'largest first');
});

test('a list longer than one query set (2,048 dispatches) is timed in chunks, every dispatch once per round', async () => {
  const { gpu, trainer } = await tinyTrainer();
  const step = trainer.stepDispatches;
  const list = Array.from({ length: Math.ceil(2100 / step.length) }, () => step).flat();
  const times = await timeDispatches(gpu, list, 1);
  assert.is(times.length, list.length);
  assert.ok(times.every((t) => Number.isFinite(t.ms) && t.ms > 0), 'a dispatch past the first query set got no time');
});

test('the profile lines name the largest kernels with their share; a device without timestamp-query gets one line', async () => {
  const lines = formatProfiles([{ model: 'm', batch: 1, examplesPerSecond: 1, tflops: 0, dispatches: 3, hostMs: 0, stepMs: 4,
    profile: { kernelMs: 3, top: [{ kernel: 'a:main', ms: 2, count: 2 }, { kernel: 'b:step', ms: 1, count: 1 }] } }]);
  assert.match(lines[lines.length - 1], /m: kernels 3\.00 ms of a 4\.00 ms step; a:main 2\.00 ms 67% \(2\), b:step 1\.00 ms 33% \(1\)/);
  const bare = { device: { features: new Set<string>() }, report: { name: 'bare adapter' } } as unknown as Gpu;
  let message = '';
  try { await timeDispatches(bare, []); } catch (e) { message = (e as Error).message; }
  const expected = /bare adapter does not offer the WebGPU feature 'timestamp-query'.*; run without --profile/;
  assertThrowsLine(() => { if (message) throw new Error(message); }, expected);
});

test.run();

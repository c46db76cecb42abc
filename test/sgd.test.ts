// The SGD update (engine/optim.ts, shaders/sgd.wgsl), which updates two parameters per dispatch: an odd number of
// parameters of sizes that are not multiples of 4, against PyTorch's update rule as float64 loops written here, over
// steps that change the learning rate, with momentum, dampening and weight decay, and without momentum.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getGpu } from '../engine/context.js';
import { Graph, Parameter } from '../engine/graph.js';
import { Sgd, SumGroups, type GradSlot, type SgdOptions } from '../engine/optim.js';
import type { Program } from '../engine/program.js';
import { Rng } from '../engine/random.js';
import { randn, assertClose } from './helpers/check.js';

const SIZES = [130, 1, 7, 13, 3];

async function checkSteps(opts: SgdOptions, lrs: number[]) {
  const gpu = await getGpu();
  const rng = new Rng(11);
  const g = new Graph();
  const params = SIZES.map((n, i) => new Parameter(`p${i}`, [n], randn(rng, n)));
  const slots: GradSlot[] = params.map((param) => {
    const raw = gpu.buffer(param.size, `${param.name}.grad`);
    return { param, node: g.param(param), raw, out: raw, size: param.size };
  });
  const sgd = new Sgd(gpu, slots, opts, new SumGroups(1), undefined as unknown as Program);
  assert.is(sgd.dispatches.length, Math.ceil(SIZES.length / 2), 'two parameters per update dispatch');
  const w = params.map((p) => Float64Array.from(p.init));
  const buf = params.map((p) => new Float64Array(p.size));
  const damp = opts.dampening ?? 0;
  for (let step = 0; step < lrs.length; step++) {
    const grads = params.map((p) => randn(rng, p.size));
    slots.forEach((s, i) => gpu.write(s.raw, grads[i]));
    sgd.prepare(step, lrs[step], step === 0);
    gpu.submit(sgd.dispatches, 'sgd test');
    params.forEach((p, i) => {
      for (let j = 0; j < p.size; j++) {
        let d = grads[i][j] + opts.weightDecay * w[i][j];
        if (opts.momentum !== 0) {
          d = step === 0 ? d : opts.momentum * buf[i][j] + (1 - damp) * d;
          buf[i][j] = d;
        }
        w[i][j] -= lrs[step] * d;
      }
    });
  }
  for (const [i, p] of params.entries()) assertClose(p.name, await gpu.read(p.ensure(gpu), p.size), w[i], 1e-6, 1e-5);
  if (opts.momentum !== 0) {
    for (const [i, p] of params.entries()) assertClose(`${p.name} momentum`, await gpu.read(sgd.momentumBuffers[i], p.size), buf[i], 1e-6, 1e-5);
  }
}

test('SGD with momentum, dampening and weight decay on 5 parameters of odd sizes, 4 steps with a changing rate', async () => {
  await checkSteps({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, dampening: 0.3 }, [0.1, 0.2, 0.05, 0.3]);
});

test('SGD without momentum or weight decay on the same parameters', async () => {
  await checkSteps({ lr: 0.5, momentum: 0, weightDecay: 0 }, [0.5, 0.25, 0.125]);
});

test.run();

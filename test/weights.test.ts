import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../engine/safetensors.js';
import { createModel } from '../models/registry.js';
import { loadWeights } from '../models/weights.js';
import { RunFolder } from '../experiments/run/run-folder.js';
import { cgh } from './helpers/cli.js';
import { assertThrowsLine } from './helpers/check.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-weights-'));
const smallResnet = () => createModel('resnet20', { inputShape: [1, 8, 8], numClasses: 10, width: 0.25, rng: new Rng(1) });

/**
 * A state_dict as torchvision saves it: every parameter and buffer F32 under its PyTorch name, except the batch-norm
 * counters, which are int64 scalars (shape []); plus tensors a loader must skip (an auxiliary head, optimizer state).
 */
function torchStyleFile(rng: Rng, edit: (ts: SafeTensor[]) => SafeTensor[] = (ts) => ts): { bytes: Uint8Array; values: Map<string, number[]> } {
  const model = smallResnet();
  const values = new Map<string, number[]>();
  const tensors: SafeTensor[] = [];
  for (const p of [...model.parameters(), ...model.buffers()]) {
    if (p.name.endsWith('num_batches_tracked')) {
      tensors.push({ name: p.name, shape: [], data: new BigInt64Array([1234n]) });
      values.set(p.name, [1234]);
    } else {
      const data = Float32Array.from({ length: p.size }, () => rng.normal());
      tensors.push({ name: p.name, shape: p.shape, data });
      values.set(p.name, [...data]);
    }
  }
  tensors.push({ name: 'AuxLogits.fc.weight', shape: [2, 3], data: new Float32Array(6) });
  tensors.push({ name: 'fc.weight.momentum_buffer', shape: [1], data: new Float32Array(1) });
  return { bytes: encodeSafetensors(edit(tensors), { format: 'pt' }), values };
}

test('weights: a torchvision-style state_dict loads by name, int64 counters included', async () => {
  const gpu = await getGpu();
  const { bytes, values } = torchStyleFile(new Rng(2));
  const model = smallResnet();
  loadWeights(gpu, model, bytes, 'w.safetensors');
  let counters = 0;
  for (const p of [...model.parameters(), ...model.buffers()]) {
    const got = [...(await gpu.read(p.ensure(gpu), p.size))];
    assert.equal(got, values.get(p.name), p.name);
    if (p.name.endsWith('num_batches_tracked')) counters++;
  }
  assert.ok(counters > 0, 'the model has batch-norm counters');
});

test('weights: missing, extra, mis-shaped and half-precision tensors are one-line errors naming the tensor', async () => {
  const gpu = await getGpu();
  const rng = new Rng(3);
  const load = (edit: (ts: SafeTensor[]) => SafeTensor[]) => () => loadWeights(gpu, smallResnet(), torchStyleFile(rng, edit).bytes, 'w.safetensors');
  assertThrowsLine(load((ts) => ts.filter((t) => t.name !== 'fc.bias')), /^w\.safetensors lacks fc\.bias \[10\] of resnet20; the file was saved for another model$/);
  assertThrowsLine(load((ts) => [...ts, { name: 'layer9.weight', shape: [3], data: new Float32Array(3) }]), /^w\.safetensors holds layer9\.weight \[3\], which resnet20 does not have; /);
  assertThrowsLine(load((ts) => ts.map((t) => (t.name === 'fc.weight' ? { ...t, shape: [10, 4, 4], data: new Float32Array(160) } : t))),
    /^w\.safetensors: fc\.weight has shape \[10,4,4\] where resnet20 has \[10,16\]; the file was saved for another model, input size or width$/);
  assertThrowsLine(load((ts) => ts.map((t) => (t.name === 'fc.bias' ? { ...t, data: new Uint8Array(20), dtype: 'F16' as const } : t))), /^w\.safetensors: fc\.bias is F16; save it as F32/);
  assertThrowsLine(() => loadWeights(gpu, smallResnet(), new Uint8Array(5), 'w.safetensors'), /^w\.safetensors is not a valid safetensors file/);
});

test('checkpoints store num_batches_tracked as an int64 scalar and read it back', async () => {
  const gpu = await getGpu();
  const model = smallResnet();
  const trainer = new Trainer(gpu, model, { batchSize: 4, sgd: { lr: 0.1, momentum: 0.9, weightDecay: 0 } });
  const images = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i));
  for (let s = 0; s < 3; s++) trainer.step(images, Int32Array.of(1, 2, 3, 4), s, 0.1);
  const state = await trainer.stateTensors();
  const dir = path.join(tmp, 'ck');
  const run = RunFolder.open(dir, { model: 'resnet20' }, { resume: false });
  run.saveCheckpoint(state, { epoch: 1 });
  const file = decodeSafetensors(fs.readFileSync(run.checkpointFile)).tensors;
  const counter = file.get('bn1.num_batches_tracked')!;
  assert.equal([counter.dtype, counter.shape, [...(counter.data as BigInt64Array)]], ['I64', [], [3n]]);
  assert.is(file.get('bn1.running_mean')!.dtype, 'F32');
  const back = RunFolder.open(dir, { model: 'resnet20' }, { resume: true }).loadCheckpoint()!;
  assert.equal([...back.tensors.get('bn1.num_batches_tracked')!.data], [3]);
  trainer.loadStateTensors(back.tensors);
});

test('cgh train --weights: starts from a saved run, refuses a file for another model before making a folder', () => {
  const tiny = ['--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--epochs', '1', '--seed', '3'];
  const first = path.join(tmp, 'first'), second = path.join(tmp, 'second');
  assert.is(cgh(['train', ...tiny, '--hidden', '8', '--out', first]).code, 0);
  const from = path.join(first, 'checkpoint.safetensors');
  const cont = cgh(['train', ...tiny, '--hidden', '8', '--weights', from, '--out', second]);
  assert.is(cont.code, 0, cont.stderr);
  const lossOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]).train_loss;
  assert.ok(lossOf(second) < lossOf(first), `starting from trained weights lowers the first epoch's loss (${lossOf(second)} vs ${lossOf(first)})`);

  const wrong = path.join(tmp, 'wrong');
  const other = cgh(['train', ...tiny, '--hidden', '16', '--weights', from, '--out', wrong]);
  assert.equal([other.code, other.errLines.length], [1, 1], other.stderr);
  assert.match(other.errLines[0], /^cgh: .*checkpoint\.safetensors: layers\.0\.weight has shape \[8,784\] where mlp has \[16,784\]; /);
  const missing = cgh(['train', ...tiny, '--weights', path.join(tmp, 'none.safetensors'), '--out', wrong]);
  assert.equal([missing.code, missing.errLines], [1, [`cgh: --weights ${path.join(tmp, 'none.safetensors')}: no such file`]]);
  assert.not.ok(fs.existsSync(wrong), 'no run folder was created');
});

test.run();

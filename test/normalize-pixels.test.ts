// The GPU input path for 8-bit pixels: the unpack-and-normalise kernel against a float64 reference, and training from
// a prepared folder through it against training through the float32 batches normalised on the CPU. The op has no
// gradient (it runs before the graph, on integer input), so there is no finite-difference check.
import { test } from 'uvu';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getGpu } from '../engine/context.js';
import { BatchIterator } from '../engine/data/dataset.js';
import { ShardSource } from '../engine/data/shard-source.js';
import { FORMAT, MANIFEST, shardFile } from '../engine/data/shards.js';
import { writeShard } from '../engine/data/write-shard.js';
import { PixelUpload } from '../engine/ops/normalize-pixels.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { Mlp } from '../models/mlp.js';
import { assertThrowsLine } from './helpers/check.js';

/** Float64 reference, written out: value (b, c, i) of an NCHW batch is (byte / 255 - mean[c]) / std[c]. */
function reference(bytes: Uint8Array, B: number, C: number, plane: number, mean: number[], std: number[]): Float64Array {
  const out = new Float64Array(B * C * plane);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < plane; i++) {
        const at = (b * C + c) * plane + i;
        out[at] = (bytes[at] / 255 - mean[c]) / std[c];
      }
    }
  }
  return out;
}

const SENTINEL = -12345;

/** Runs the upload of each batch in turn through one PixelUpload and checks every value and the untouched tail. */
async function check(B: number, C: number, H: number, W: number, batches: Uint8Array[], mean: number[], std: number[], maxGroupsX?: number) {
  const gpu = await getGpu();
  const count = B * C * H * W;
  const target = gpu.buffer(count + 8, 'target', new Float32Array(count + 8).fill(SENTINEL));
  const upload = new PixelUpload(gpu, target, count, C, H * W, { mean, std }, maxGroupsX);
  if (maxGroupsX !== undefined && upload.dispatch.grid[1] < 2) throw new Error(`the grid ${upload.dispatch.grid} is not 2D`);
  for (const [k, bytes] of batches.entries()) {
    upload.write(bytes);
    gpu.submit([upload.dispatch]);
    const got = (await gpu.read(target, count + 8)) as Float32Array;
    const want = reference(bytes, B, C, H * W, mean, std);
    for (let i = 0; i < count; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 2e-6)) throw new Error(`[${B},${C},${H},${W}] batch ${k} value ${i}: got ${got[i]}, want ${want[i]}`);
    }
    for (let i = count; i < count + 8; i++) if (got[i] !== SENTINEL) throw new Error(`[${B},${C},${H},${W}]: wrote past the batch at ${i}`);
  }
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

test('pixel normalisation matches a float64 reference on odd sizes, byte counts not a multiple of 4 and unaligned views', async () => {
  const rng = new Rng(17);
  const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  for (const [B, C, H, W] of [[3, 3, 5, 7], [1, 3, 1, 1], [2, 1, 3, 3], [5, 3, 2, 2], [1, 4, 3, 5], [2, 3, 4, 4], [4, 3, 8, 8]]) {
    const n = B * C * H * W;
    const mean = C === 3 ? imagenet.mean : Array.from({ length: C }, () => rng.uniform());
    const std = C === 3 ? imagenet.std : Array.from({ length: C }, () => 0.1 + rng.uniform());
    const extremes = Uint8Array.from({ length: n }, (_, i) => (i % 2 ? 255 : 0));
    const unaligned = randomBytes(rng, n + 3).subarray(3); // an odd byte offset: staged before the upload
    await check(B, C, H, W, [randomBytes(rng, n), extremes, unaligned, randomBytes(rng, n)], mean, std);
  }
});

test('pixel normalisation folded into a 2D grid (as for batches past 65,535 workgroups) covers every value once', async () => {
  const rng = new Rng(4);
  const [B, C, H, W] = [2, 3, 37, 41]; // 9,102 bytes: 569 invocations in 9 workgroups, folded 3 x 3
  await check(B, C, H, W, [randomBytes(rng, B * C * H * W), randomBytes(rng, B * C * H * W)], [0.5, 0.25, 0], [0.5, 1, 2], 3);
});

test('a pixel upload refuses a mismatched batch, normalisation or target', async () => {
  const gpu = await getGpu();
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const target = gpu.buffer(2 * 3 * 4, 'target');
  const upload = new PixelUpload(gpu, target, 24, 3, 4, norm);
  assertThrowsLine(() => upload.write(new Uint8Array(23)), /^pixel upload: expected 24 bytes, got 23$/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 24, 3, 4, { mean: [0.5], std: [1] }), /3 channels need 3 means and stds, got 1 and 1/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 24, 3, 4, { ...norm, std: [1, 0, 1] }), /stds positive/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 25, 3, 4, norm), /25 bytes are not whole examples/);
  assertThrowsLine(() => new PixelUpload(gpu, gpu.buffer(4, 'small'), 24, 3, 4, norm), /fewer than 24 float32 values/);
  const exact = gpu.device.createBuffer({ size: 25 * 4, usage: 0x0080 | 0x0008 }); // 25 floats: the last vec4 would run past it
  assertThrowsLine(() => new PixelUpload(gpu, exact, 25, 1, 25, { mean: [0], std: [1] }), /rounded up to whole vec4s/);
});

/** A prepared folder (the shard format `cgh prepare` writes) of n examples of 3×size×size random pixels in `classes` classes. */
function preparedFolder(dir: string, n: number, size: number, classes: number): void {
  const rng = new Rng(23), per = 3 * size * size;
  mkdirSync(join(dir, 'train'));
  const half = Math.ceil(n / 2), shards = [];
  for (const [s, from, to] of [[0, 0, half], [1, half, n]]) {
    const labels = Array.from({ length: to - from }, () => rng.int(classes));
    writeShard(join(dir, shardFile('train', s)), randomBytes(rng, (to - from) * per), labels, size);
    shards.push({ file: shardFile('train', s), count: to - from });
  }
  const manifest = { format: FORMAT, version: 1, resize: size, crop: size, shardSize: half, classes, splits: { train: { count: n, shards } } };
  writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest));
}

test('training from a prepared folder gives the same losses through uint8 pixels normalised on the GPU as through float32', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cgh-pixels-'));
  const sources: ShardSource[] = [];
  try {
    const [n, size, classes, B] = [30, 5, 7, 6]; // 6 × 75 bytes: not a multiple of 4
    preparedFolder(dir, n, size, classes);
    const gpu = await getGpu();
    const runOf = async (pixels: boolean) => {
      const source = new ShardSource(dir, 'train', { workers: 2, pixels });
      sources.push(source);
      const split = source.asSplit();
      const trainer = new Trainer(gpu, new Mlp([3, size, size], classes, [16], new Rng(5)), {
        batchSize: B, evalBatchSize: 8, sgd: { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }, pipelined: false,
      });
      const batches = new BatchIterator(split, B, new Rng(6));
      const losses: number[] = [];
      let step = 0;
      for (let epoch = 0; epoch < 2; epoch++) {
        for await (const b of batches.epochInputs()) {
          if ((b.inputs instanceof Float32Array) === pixels) throw new Error(`pixels ${pixels}: the batch came as ${b.inputs.constructor.name}`);
          trainer.step(b.inputs, b.labels, step++, 0.05);
          losses.push((await trainer.takeMetrics()).loss);
        }
      }
      const evaluation = await trainer.evaluate(split, { perExample: true }); // 30 examples in batches of 8: a short last batch
      return { losses, evaluation, dispatches: trainer.dispatchesPerStep };
    };
    const bytes = await runOf(true), floats = await runOf(false);
    if (bytes.losses.length !== 2 * Math.floor(n / B)) throw new Error(`${bytes.losses.length} steps`);
    bytes.losses.forEach((l, i) => {
      if (!(Math.abs(l - floats.losses[i]) <= 1e-5)) throw new Error(`step ${i}: loss ${l} through pixels, ${floats.losses[i]} through float32`);
    });
    if (bytes.dispatches !== floats.dispatches + 1) throw new Error(`${bytes.dispatches} dispatches per step through pixels, ${floats.dispatches} through float32`);
    const [a, b] = [bytes.evaluation, floats.evaluation];
    if (!(Math.abs(a.loss - b.loss) <= 1e-5) || a.accuracy !== b.accuracy || a.top5 !== b.top5) {
      throw new Error(`evaluation through pixels ${JSON.stringify(a)} vs float32 ${JSON.stringify(b)}`);
    }
  } finally {
    await Promise.all(sources.map((s) => s.close())); // also when a check fails: their prefetch threads would keep the process alive
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

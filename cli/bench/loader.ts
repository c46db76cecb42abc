// Loader throughput: examples/s that the shard prefetcher delivers as normalised float32 batches or as the stored
// uint8, from the page cache (synthetic shards written to a temporary folder and read once before timing); and the
// training input path at 224², uint8 batches uploaded and normalised on the adapter, with and without the loader.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchPrefetcher } from '../../engine/data/prefetch.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../engine/data/normalize.js';
import type { Gpu } from '../../engine/gpu.js';
import { PixelUpload } from '../../engine/ops/normalize-pixels.js';
import { BatchIterator } from '../../engine/data/dataset.js';
import { defaultPrefetchWorkers, ShardSource } from '../../engine/data/shard-source.js';
import { Trainer } from '../../engine/trainer.js';
import { Mlp } from '../../models/mlp.js';
import { FORMAT, Manifest, MANIFEST, shardFile } from '../../engine/data/shards.js';
import { writeShard } from '../../engine/data/write-shard.js';
import { Rng } from '../../engine/random.js';

export interface LoaderBenchRow { size: number; batch: number; workers: number; output: string; examplesPerSecond: number; mbPerSecond: number }

function makeShards(dir: string, size: number, shards: number, perShard: number): void {
  const rng = new Rng(size);
  mkdirSync(join(dir, 'train'), { recursive: true });
  const m: Manifest = {
    format: FORMAT, version: 1, resize: size, crop: size, shardSize: perShard, classes: 1000, splits: { train: { count: shards * perShard, shards: [] } },
  };
  for (let s = 0; s < shards; s++) {
    const images = new Uint8Array(perShard * 3 * size * size);
    for (let i = 0; i < images.length; i += 4096) images[i] = rng.int(256);
    writeShard(join(dir, shardFile('train', s)), images, Int32Array.from({ length: perShard }, () => rng.int(1000)), size);
    m.splits.train.shards.push({ file: shardFile('train', s), count: perShard });
  }
  writeFileSync(join(dir, MANIFEST), JSON.stringify(m));
}

/** A shuffled order over the prefetcher's examples. */
function shuffled(p: BatchPrefetcher): Int32Array {
  const rng = new Rng(7);
  const order = Int32Array.from({ length: p.reader.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  return order;
}

/**
 * Examples/s of the prefetcher's batches, each handed to `use` (which may return a promise to wait on), over `examples`
 * examples after a warm-up epoch.
 */
async function timeEpoch(p: BatchPrefetcher, examples: number, use: (x: Float32Array | Uint8Array) => Promise<void> | void): Promise<number> {
  const order = shuffled(p);
  const run = async (limit: number) => {
    let n = 0;
    p.start(order);
    for (let b = await p.next(); b && n < limit; b = await p.next()) { n += b.y.length; await use(b.x); p.recycle(b); }
    while (await p.next()) { /* drain */ }
    return n;
  };
  await run(order.length); // warms the page cache, the workers and the adapter's pipelines
  const t0 = performance.now();
  const n = await run(examples);
  return n / ((performance.now() - t0) / 1000);
}

async function measure(dir: string, size: number, batch: number, workers: number, raw: boolean, examples: number): Promise<LoaderBenchRow> {
  const p = new BatchPrefetcher(dir, 'train', { batchSize: batch, workers, raw });
  const rate = await timeEpoch(p, examples, () => {});
  await p.close();
  return row(size, batch, workers, raw ? 'uint8' : 'float32', rate);
}

function row(size: number, batch: number, workers: number, output: string, examplesPerSecond: number): LoaderBenchRow {
  return { size, batch, workers, output, examplesPerSecond, mbPerSecond: (examplesPerSecond * 3 * size * size) / 1e6 };
}

/**
 * The training input path at `size`: uint8 batches from the prefetcher (workers > 0) or one batch from memory (workers
 * 0, the adapter's part alone), uploaded as bytes and normalised into a float32 input by the engine's op, one command
 * buffer per batch, waiting for the adapter every 4 batches as the trainer's settle() does on a CPU adapter. With
 * `floats`, the path it replaces: float32 batches normalised on the workers and uploaded as they are.
 */
async function measureInputPath(
  gpu: Gpu, dir: string, size: number, batch: number, workers: number, examples: number, floats = false,
): Promise<LoaderBenchRow> {
  const count = batch * 3 * size * size;
  const target = gpu.buffer(count, 'bench input');
  const upload = new PixelUpload(gpu, target, count, 3, size * size, { mean: IMAGENET_MEAN, std: IMAGENET_STD });
  let inFlight = 0;
  const use = async (x: Float32Array | Uint8Array) => {
    // A submission each batch, as a step has: the adapter copies a queued write in only then.
    if (x instanceof Float32Array) gpu.write(target, x);
    else upload.write(x);
    gpu.submit(x instanceof Float32Array ? [] : [upload.dispatch], 'bench input');
    if (++inFlight === 4) { inFlight = 0; await gpu.idle(); }
  };
  let rate: number;
  if (workers > 0) {
    const p = new BatchPrefetcher(dir, 'train', { batchSize: batch, workers, raw: !floats });
    rate = await timeEpoch(p, examples, use);
    await p.close();
  } else {
    const bytes = new Uint8Array(count).map((_, i) => (i * 131) & 255);
    for (let i = 0; i < 8; i++) await use(bytes);
    const t0 = performance.now();
    let n = 0;
    for (; n < examples; n += batch) await use(bytes);
    rate = n / ((performance.now() - t0) / 1000);
  }
  await gpu.idle();
  return row(size, batch, workers, floats ? 'f32+upload' : workers > 0 ? 'uint8+gpu' : 'gpu only', rate);
}

/**
 * Training steps fed from the folder as cgh train feeds them (a ShardSource, BatchIterator.epochInputs, settle every 4
 * steps), through uint8 pixels or float32, for a model so small (an MLP with 8 hidden units) that the input path dominates.
 */
async function measureTraining(gpu: Gpu, dir: string, size: number, batch: number, pixels: boolean): Promise<LoaderBenchRow> {
  const source = new ShardSource(dir, 'train', { pixels });
  const split = source.asSplit();
  const trainer = new Trainer(gpu, new Mlp([3, size, size], 1000, [8], new Rng(1)), { batchSize: batch, sgd: { lr: 1e-4, momentum: 0, weightDecay: 0 } });
  const batches = new BatchIterator(split, batch, new Rng(2));
  let step = 0, rate = 0;
  for (let epoch = 0; epoch < 2; epoch++) { // the first warms the page cache, the workers and the pipelines
    const t0 = performance.now();
    let n = 0;
    for await (const b of batches.epochInputs()) {
      trainer.step(b.inputs, b.labels, step++, 1e-4);
      if (step % 4 === 0) await trainer.settle(0);
      n += b.size;
    }
    await trainer.takeMetrics();
    rate = n / ((performance.now() - t0) / 1000);
  }
  await source.close();
  return row(size, batch, defaultPrefetchWorkers(), pixels ? 'uint8 step' : 'f32 step', rate);
}

export async function benchLoader(gpu?: Gpu): Promise<LoaderBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cgh-loader-'));
  const rows: LoaderBenchRow[] = [];
  try {
    for (const [size, batch, count] of [[224, 128, 2048], [32, 256, 16384]]) {
      const sub = join(dir, String(size));
      makeShards(sub, size, 4, count / 4);
      const counts = [...new Set([1, availableParallelism()])];
      for (const raw of [false, true]) for (const workers of counts) rows.push(await measure(sub, size, batch, workers, raw, count));
      if (gpu && size === 224) {
        for (const workers of [0, ...counts]) rows.push(await measureInputPath(gpu, sub, size, batch, workers, count));
        rows.push(await measureInputPath(gpu, sub, size, batch, counts.at(-1)!, count, true));
        for (const pixels of [true, false]) rows.push(await measureTraining(gpu, sub, size, 64, pixels));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function formatLoaderBench(rows: LoaderBenchRow[], adapter = ''): string {
  const lines = ['size     output      batch  workers  examples/s      MB/s'];
  for (const r of rows) {
    const rate = `${r.examplesPerSecond.toFixed(0).padStart(12)}${r.mbPerSecond.toFixed(0).padStart(10)}`;
    lines.push(`${`${r.size}x${r.size}`.padEnd(9)}${r.output.padEnd(11)}${String(r.batch).padStart(6)}${String(r.workers).padStart(9)}${rate}`);
  }
  lines.push('Random order over 4 shards from the page cache, uint8 read, then ImageNet normalisation to float32 on the workers or the bytes as stored.');
  if (rows.some((r) => r.output === 'gpu only')) {
    lines.push(`uint8+gpu: the training input path, those bytes uploaded and normalised on the adapter${adapter ? ` (${adapter})` : ''} by the engine's op;`);
    lines.push('gpu only: the same upload and normalisation of one batch from memory, without the loader; f32+upload: the float32 path it replaces,');
    lines.push('normalised on the workers and uploaded as float32. A CPU adapter runs the normalisation on the cores the workers use.');
    lines.push('uint8 step, f32 step: training steps of an MLP 150528-8-1000 fed by the shard source (as cgh train is) through either path.');
  }
  lines.push('Target >= 5,000 examples/s at 224x224.');
  return lines.join('\n');
}

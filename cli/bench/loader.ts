// Loader throughput: examples/s that the shard prefetcher delivers as normalised float32 batches, from the page
// cache (synthetic shards written to a temporary folder and read once before timing).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchPrefetcher } from '../../engine/data/prefetch.js';
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

async function measure(dir: string, size: number, batch: number, workers: number, raw: boolean, examples: number): Promise<LoaderBenchRow> {
  const p = new BatchPrefetcher(dir, 'train', { batchSize: batch, workers, raw });
  const rng = new Rng(7);
  const order = Int32Array.from({ length: p.reader.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  const run = async (limit: number) => {
    let n = 0;
    p.start(order);
    for (let b = await p.next(); b && n < limit; b = await p.next()) { n += b.y.length; p.recycle(b); }
    while (await p.next()) { /* drain */ }
    return n;
  };
  await run(order.length); // warms the page cache and the workers
  const t0 = performance.now();
  const n = await run(examples);
  const s = (performance.now() - t0) / 1000;
  await p.close();
  return { size, batch, workers, output: raw ? 'uint8' : 'float32', examplesPerSecond: n / s, mbPerSecond: (n * 3 * size * size) / s / 1e6 };
}

export async function benchLoader(): Promise<LoaderBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cgh-loader-'));
  const rows: LoaderBenchRow[] = [];
  try {
    for (const [size, batch, count] of [[224, 128, 2048], [32, 256, 16384]]) {
      const sub = join(dir, String(size));
      makeShards(sub, size, 4, count / 4);
      const counts = [...new Set([1, availableParallelism()])];
      for (const raw of [false, true]) for (const workers of counts) rows.push(await measure(sub, size, batch, workers, raw, count));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function formatLoaderBench(rows: LoaderBenchRow[]): string {
  const lines = ['size     output   batch  workers  examples/s      MB/s'];
  for (const r of rows) {
    const rate = `${r.examplesPerSecond.toFixed(0).padStart(12)}${r.mbPerSecond.toFixed(0).padStart(10)}`;
    lines.push(`${`${r.size}x${r.size}`.padEnd(9)}${r.output.padEnd(8)}${String(r.batch).padStart(6)}${String(r.workers).padStart(9)}${rate}`);
  }
  lines.push('Random order over 4 shards from the page cache, uint8 read, then ImageNet normalisation to float32 or the bytes as stored;');
  lines.push('target >= 5,000 examples/s at 224x224.');
  return lines.join('\n');
}

import { test } from 'uvu';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGENET_MEAN, IMAGENET_STD } from '../engine/data/normalize.js';
import { BatchPrefetcher } from '../engine/data/prefetch.js';
import { ShardReader } from '../engine/data/shard-reader.js';
import { FORMAT, MANIFEST, shardFile } from '../engine/data/shards.js';
import { writeShard } from '../engine/data/write-shard.js';
import { Rng } from '../engine/random.js';

const tmp = mkdtempSync(join(tmpdir(), 'cgh-shards-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

// Three shards of unequal sizes (7, 1, 5) of 3x5x5 images: example i's bytes are a function of i, labels i % 4.
const size = 5, counts = [7, 1, 5];
const pixel = (i: number, k: number) => (i * 31 + k * 7) % 256;
mkdirSync(join(tmp, 'train'));
{
  let first = 0;
  const shards = counts.map((n, s) => {
    const images = new Uint8Array(n * 3 * size * size);
    for (let j = 0; j < n; j++) for (let k = 0; k < 3 * size * size; k++) images[j * 75 + k] = pixel(first + j, k);
    writeShard(join(tmp, shardFile('train', s)), images, Array.from({ length: n }, (_, j) => (first + j) % 4), size);
    first += n;
    return { file: shardFile('train', s), count: n };
  });
  const manifest = { format: FORMAT, version: 1, resize: size, crop: size, shardSize: 7, classes: 4, splits: { train: { count: 13, shards } } };
  writeFileSync(join(tmp, MANIFEST), JSON.stringify(manifest));
}

test('the shard reader finds any example across shards of unequal sizes', () => {
  const r = new ShardReader(tmp, 'train');
  if (r.count !== 13 || r.size !== size || r.labels.join() !== Array.from({ length: 13 }, (_, i) => i % 4).join()) {
    throw new Error(`reader ${r.count} ${r.labels}`);
  }
  const b = new Uint8Array(75);
  for (const i of [12, 0, 7, 8, 6, 3]) {
    r.readImage(i, b);
    for (let k = 0; k < 75; k++) if (b[k] !== pixel(i, k)) throw new Error(`example ${i} byte ${k}`);
  }
  let msg = '';
  try { r.readImage(13, b); } catch (e) { msg = (e as Error).message; }
  if (!/outside 0\.\.12/.test(msg)) throw new Error(msg);
  r.close();
});

test('the prefetcher delivers batches in the asked order, normalised with ImageNet mean/std in float64 terms, or raw', async () => {
  const rng = new Rng(1);
  const order = Array.from({ length: 13 }, (_, i) => i);
  for (let i = 12; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  for (const raw of [false, true]) {
    const p = new BatchPrefetcher(tmp, 'train', { batchSize: 4, workers: 2, depth: 3, raw });
    for (let epoch = 0; epoch < 2; epoch++) {
      p.start(order);
      const seen: number[] = [];
      for (let b = await p.next(); b; b = await p.next()) {
        for (let e = 0; e < b.y.length; e++) {
          const i = order[seen.length];
          if (b.indices[e] !== i || b.y[e] !== i % 4) throw new Error(`batch example ${seen.length}: index ${b.indices[e]} label ${b.y[e]}, want ${i}`);
          for (let k = 0; k < 75; k++) {
            const c = Math.floor(k / 25);
            const want = raw ? pixel(i, k) : (pixel(i, k) / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            if (Math.abs(b.x[e * 75 + k] - want) > 1e-6 * Math.max(1, Math.abs(want))) {
              throw new Error(`example ${i} value ${k}: ${b.x[e * 75 + k]} vs ${want}`);
            }
          }
          seen.push(i);
        }
        p.recycle(b);
      }
      if (seen.length !== 13) throw new Error(`epoch delivered ${seen.length} examples`);
    }
    // An epoch left after one batch: the next start() drops what was in flight and begins afresh.
    p.start(order);
    await p.next();
    p.start(order.slice().reverse());
    const first = await p.next();
    if (!first || first.indices.join() !== order.slice().reverse().slice(0, 4).join()) throw new Error(`restart gave ${first?.indices}`);
    await p.close();
  }
});

test('a folder that is not a prepared dataset is one clear error', () => {
  let msg = '';
  try { new ShardReader(join(tmp, 'train'), 'train'); } catch (e) { msg = (e as Error).message; }
  if (!/index\.json \(ENOENT\); give a folder made by cgh prepare/.test(msg)) throw new Error(msg);
  try { new ShardReader(tmp, 'val'); } catch (e) { msg = (e as Error).message; }
  if (!/has no val split \(it has train\)/.test(msg)) throw new Error(msg);
});

test.run();

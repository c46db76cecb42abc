// One prepare worker thread: decodes, resizes and crops the files of a shard and writes the shard atomically.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { ImageDecodeError } from '../../engine/data/image/decode.js';
import { nodeImageDecoder } from '../../engine/data/image/node-decoder.js';
import { resizeCenterCrop } from '../../engine/data/image/resize.js';
import { writeShard as writeShardFile } from '../../engine/data/write-shard.js';
import type { Example } from './scan.js';

export interface ShardJob { split: string; index: number; out: string; examples: Example[] }
export interface Skipped { path: string; reason: string }
export type WorkerMessage = { type: 'progress'; images: number } | { type: 'done'; index: number; split: string; count: number; skipped: Skipped[] };

const { root, resize, crop } = workerData as { root: string; resize: number; crop: number };
const decoder = await nodeImageDecoder();
const size = 3 * crop * crop;

async function writeShard(job: ShardJob): Promise<void> {
  const images = new Uint8Array(job.examples.length * size);
  const labels: number[] = [];
  const skipped: Skipped[] = [];
  let pending = 0;
  for (const ex of job.examples) {
    try {
      const img = await decoder.decode(readFileSync(ex.path));
      resizeCenterCrop(img, resize, crop, images.subarray(labels.length * size, (labels.length + 1) * size));
      labels.push(ex.label);
    } catch (e) {
      if (!(e instanceof ImageDecodeError) && !(e as NodeJS.ErrnoException).code) throw e;
      skipped.push({ path: relative(root, ex.path), reason: (e as Error).message.split('\n')[0] });
    }
    if (++pending === 8) { parentPort!.postMessage({ type: 'progress', images: pending } satisfies WorkerMessage); pending = 0; }
  }
  if (pending > 0) parentPort!.postMessage({ type: 'progress', images: pending } satisfies WorkerMessage);
  const n = labels.length;
  writeShardFile(job.out, images.subarray(0, n * size), labels, crop, { skipped: JSON.stringify(skipped), files: String(job.examples.length) });
  parentPort!.postMessage({ type: 'done', index: job.index, split: job.split, count: n, skipped } satisfies WorkerMessage);
}

parentPort!.on('message', (job: ShardJob) => {
  writeShard(job).catch((e) => { throw e; });
});

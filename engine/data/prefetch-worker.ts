// A prefetch thread: reads the examples of each requested batch from the shards and normalises them to float32.
import { parentPort, workerData } from 'node:worker_threads';
import { normalizeInto, type Normalization } from './normalize.js';
import { ShardReader } from './shard-reader.js';
import type { BatchReply, BatchRequest } from './prefetch.js';

const { dir, split, norm, raw } = workerData as { dir: string; split: string; norm: Normalization; raw: boolean };
const reader = new ShardReader(dir, split);
const bytes = new Uint8Array(reader.exampleBytes);
const plane = reader.size * reader.size;
const spare: (Float32Array | Uint8Array)[] = [];

parentPort!.on('message', (m: BatchRequest | { recycle: Float32Array | Uint8Array }) => {
  if ('recycle' in m) { spare.push(m.recycle); return; }
  const n = m.indices.length, per = 3 * plane;
  let x = spare.pop();
  if (!x || x.length !== n * per) x = raw ? new Uint8Array(n * per) : new Float32Array(n * per);
  const y = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const i = m.indices[b];
    if (raw) reader.readImage(i, (x as Uint8Array).subarray(b * per, (b + 1) * per));
    else {
      reader.readImage(i, bytes);
      normalizeInto(bytes, plane, norm, x as Float32Array, b * per);
    }
    y[b] = reader.labels[i];
  }
  parentPort!.postMessage({ id: m.id, x, y } satisfies BatchReply, [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer]);
});

// Writing one shard file atomically (temporary name, flush, rename): a shard file that exists is complete.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { safetensorsParts } from '../safetensors.js';

/** images: uint8 [N, 3, size, size]; labels [N]; metadata strings go into the safetensors header. */
export function writeShard(path: string, images: Uint8Array, labels: ArrayLike<number>, size: number, metadata: Record<string, string> = {}): void {
  const n = labels.length;
  if (images.length !== n * 3 * size * size) throw new Error(`shard ${path}: ${images.length} image bytes for ${n} examples of 3x${size}x${size}`);
  const parts = safetensorsParts([
    { name: 'images', shape: [n, 3, size, size], data: images, dtype: 'U8' },
    { name: 'labels', shape: [n], data: BigInt64Array.from(Array.from(labels, (v) => BigInt(v))), dtype: 'I64' },
  ], metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const p of parts) {
      for (let at = 0; at < p.byteLength;) at += writeSync(fd, p, at, p.byteLength - at);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

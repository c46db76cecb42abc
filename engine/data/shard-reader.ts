/**
 * Random access to the examples of a prepared split (engine/data/shards.ts) with bounded memory: only the
 * labels and each shard's offsets are held; images are read from the files on demand (the OS page cache does
 * the caching), through at most MAX_OPEN open files.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST, Manifest, manifestProblem } from './shards.js';

const MAX_OPEN = 64;

export class ShardError extends Error {
  override name = 'ShardError';
}

interface Shard { path: string; first: number; count: number; imagesAt: number }

export class ShardReader {
  readonly count: number;
  /** Side of the square images: each example is 3 * size * size bytes, planar RGB. */
  readonly size: number;
  readonly classes: number;
  readonly labels: Int32Array;
  private readonly shards: Shard[] = [];
  private readonly open = new Map<number, number>();

  constructor(readonly dir: string, readonly split: string) {
    const manifest = readManifest(dir);
    const entry = manifest.splits[split];
    if (!entry) throw new ShardError(`${dir} has no ${split} split (it has ${Object.keys(manifest.splits).join(', ')}); prepare it with cgh prepare`);
    this.size = manifest.crop;
    this.classes = manifest.classes;
    this.count = entry.count;
    this.labels = new Int32Array(entry.count);
    let first = 0;
    for (const s of entry.shards) {
      const path = join(dir, s.file);
      const { imagesAt, labels } = readShardLabels(path, s.count, this.size);
      this.labels.set(labels, first);
      this.shards.push({ path, first, count: s.count, imagesAt });
      first += s.count;
    }
  }

  get exampleBytes(): number { return 3 * this.size * this.size; }

  /** Example i's uint8 [3, size, size] into `out`. */
  readImage(i: number, out: Uint8Array): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`example ${i} is outside 0..${this.count - 1}`);
    let lo = 0, hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid].first <= i) lo = mid; else hi = mid - 1;
    }
    const s = this.shards[lo];
    const n = this.exampleBytes;
    const fd = this.fd(lo);
    const at = s.imagesAt + (i - s.first) * n;
    for (let got = 0; got < n;) {
      const r = readSync(fd, out, got, n - got, at + got);
      if (r === 0) throw new ShardError(`${s.path} ends before example ${i - s.first}; prepare the folder again`);
      got += r;
    }
  }

  close(): void {
    for (const fd of this.open.values()) closeSync(fd);
    this.open.clear();
  }

  private fd(shard: number): number {
    let fd = this.open.get(shard);
    if (fd !== undefined) {
      this.open.delete(shard);
      this.open.set(shard, fd);
      return fd;
    }
    if (this.open.size >= MAX_OPEN) {
      const [oldest, old] = this.open.entries().next().value as [number, number];
      closeSync(old);
      this.open.delete(oldest);
    }
    fd = openSync(this.shards[shard].path, 'r');
    this.open.set(shard, fd);
    return fd;
  }
}

export function readManifest(dir: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ShardError(`cannot read ${join(dir, MANIFEST)} (${code ?? (e as Error).message}); give a folder made by cgh prepare`);
  }
  const problem = manifestProblem(m);
  if (problem) throw new ShardError(`${join(dir, MANIFEST)}: ${problem}; give a folder made by cgh prepare`);
  return m as Manifest;
}

/** The byte offset of a shard's images and its labels, from its header; checks shapes against the manifest. */
function readShardLabels(path: string, count: number, size: number): { imagesAt: number; labels: Int32Array } {
  const bad = (what: string) => new ShardError(`${path} ${what}; prepare the folder again`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw bad(`cannot be opened (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw bad('is too short');
    const n = Number(len.readBigUInt64LE(0));
    if (n > 1e8) throw bad('has a corrupt header length');
    const head = Buffer.alloc(n);
    if (readSync(fd, head, 0, n, 8) !== n) throw bad('is truncated');
    const h = JSON.parse(head.toString('utf8'));
    const images = h.images, labels = h.labels;
    if (images?.dtype !== 'U8' || JSON.stringify(images.shape) !== JSON.stringify([count, 3, size, size])) {
      throw bad(`holds images ${images?.dtype} [${images?.shape}], not U8 [${count},3,${size},${size}]`);
    }
    if (labels?.dtype !== 'I64' || labels.shape[0] !== count) throw bad(`holds labels ${labels?.dtype} [${labels?.shape}], not I64 [${count}]`);
    const raw = Buffer.alloc(count * 8);
    readSync(fd, raw, 0, raw.length, 8 + n + labels.data_offsets[0]);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = Number(raw.readBigInt64LE(i * 8));
    return { imagesAt: 8 + n + images.data_offsets[0], labels: out };
  } catch (e) {
    if (e instanceof ShardError) throw e;
    throw bad(`has an unreadable header (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

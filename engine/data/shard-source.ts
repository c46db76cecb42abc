/**
 * A prepared split (cgh prepare) as an ExampleSource: normalised float32 examples read on demand, and batches
 * prepared ahead by worker threads for training and evaluation. Memory stays bounded whatever the split's size.
 */
import { availableParallelism } from 'node:os';
import type { ExampleSource, Split } from './dataset.js';
import { streamedSplit } from './dataset.js';
import { normalization, normalizeInto, IMAGENET_MEAN, IMAGENET_STD, type Normalization } from './normalize.js';
import { BatchPrefetcher } from './prefetch.js';
import { ShardReader } from './shard-reader.js';

export interface ShardSourceOptions {
  mean?: readonly number[];
  std?: readonly number[];
  /** Prefetch threads (default: the cores less one, at most 8). */
  workers?: number;
}

export class ShardSource implements ExampleSource {
  readonly reader: ShardReader;
  readonly features: number;
  private readonly norm: Normalization;
  private readonly bytes: Uint8Array;
  /** Idle prefetchers by batch size; one in use (a training epoch paused for an evaluation) is not shared. */
  private readonly idle = new Map<number, BatchPrefetcher[]>();
  private readonly all: BatchPrefetcher[] = [];

  constructor(readonly dir: string, readonly split: string, private readonly opts: ShardSourceOptions = {}) {
    this.reader = new ShardReader(dir, split);
    this.features = this.reader.exampleBytes;
    this.norm = normalization(opts.mean ?? IMAGENET_MEAN, opts.std ?? IMAGENET_STD);
    this.bytes = new Uint8Array(this.reader.exampleBytes);
  }

  /** The split with its stored labels. */
  asSplit(): Split {
    return streamedSplit(this, this.reader.labels.slice());
  }

  read(indices: ArrayLike<number>, out: Float32Array): void {
    const plane = this.reader.size * this.reader.size;
    for (let k = 0; k < indices.length; k++) {
      this.reader.readImage(indices[k], this.bytes);
      normalizeInto(this.bytes, plane, this.norm, out, k * this.features);
    }
  }

  async *batches(order: Int32Array, batchSize: number): AsyncGenerator<Float32Array> {
    let p = this.idle.get(batchSize)?.pop();
    if (!p) {
      const workers = this.opts.workers ?? Math.max(1, Math.min(8, availableParallelism() - 1));
      p = new BatchPrefetcher(this.dir, this.split, { batchSize, workers, mean: this.opts.mean, std: this.opts.std });
      this.all.push(p);
    }
    try {
      p.start(order);
      for (let b = await p.next(); b; b = await p.next()) {
        yield b.x as Float32Array;
        p.recycle(b);
      }
    } finally {
      const list = this.idle.get(batchSize) ?? [];
      list.push(p);
      this.idle.set(batchSize, list);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.splice(0).map((p) => p.close()));
    this.idle.clear();
    this.reader.close();
  }
}

/**
 * A prepared split (cgh prepare) as an ExampleSource: normalised float32 examples read on demand, and batches
 * prepared ahead by worker threads for training and evaluation, as the stored uint8 pixels that the trainer
 * normalises on the GPU (or as float32 normalised on the workers). Memory stays bounded whatever the split's size.
 */
import { availableParallelism } from 'node:os';
import type { ExampleSource, Pixels, Split } from './dataset.js';
import { streamedSplit } from './dataset.js';
import { normalization, normalizeInto, IMAGENET_MEAN, IMAGENET_STD, type Normalization } from './normalize.js';
import { BatchPrefetcher } from './prefetch.js';
import { ShardReader } from './shard-reader.js';

export interface ShardSourceOptions {
  mean?: readonly number[];
  std?: readonly number[];
  /** Prefetch threads (default: the cores less one, at most 8). */
  workers?: number;
  /**
   * Offer the trainer uint8 pixel batches to normalise on the GPU (default true); false leaves only the float32
   * batches normalised on the workers.
   */
  pixels?: boolean;
}

/** Prefetch threads when not given: the cores less one (for the training loop), at most 8. */
export function defaultPrefetchWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

export class ShardSource implements ExampleSource {
  readonly reader: ShardReader;
  readonly features: number;
  private readonly norm: Normalization;
  private readonly bytes: Uint8Array;
  /** Idle prefetchers by output and batch size; one in use (a training epoch paused for an evaluation) is not shared. */
  private readonly idle = new Map<string, BatchPrefetcher[]>();
  readonly pixelBatches?: (order: Int32Array, batchSize: number) => AsyncGenerator<Pixels>;
  private readonly all: BatchPrefetcher[] = [];

  constructor(readonly dir: string, readonly split: string, private readonly opts: ShardSourceOptions = {}) {
    this.reader = new ShardReader(dir, split);
    this.features = this.reader.exampleBytes;
    this.norm = normalization(opts.mean ?? IMAGENET_MEAN, opts.std ?? IMAGENET_STD);
    this.bytes = new Uint8Array(this.reader.exampleBytes);
    if (opts.pixels !== false) this.pixelBatches = (order, batchSize) => this.pixelsOf(order, batchSize);
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
    for await (const x of this.prefetched(order, batchSize, false)) yield x as Float32Array;
  }

  private async *pixelsOf(order: Int32Array, batchSize: number): AsyncGenerator<Pixels> {
    const mean = this.opts.mean ?? IMAGENET_MEAN, std = this.opts.std ?? IMAGENET_STD;
    for await (const bytes of this.prefetched(order, batchSize, true)) yield { bytes: bytes as Uint8Array, mean, std };
  }

  /** Batches from an idle prefetcher of this batch size and output (or a new one); each is recycled when the caller resumes. */
  private async *prefetched(order: Int32Array, batchSize: number, raw: boolean): AsyncGenerator<Float32Array | Uint8Array> {
    const key = `${raw ? 'uint8' : 'float32'} ${batchSize}`;
    let p = this.idle.get(key)?.pop();
    if (!p) {
      const workers = this.opts.workers ?? defaultPrefetchWorkers();
      p = new BatchPrefetcher(this.dir, this.split, { batchSize, workers, mean: this.opts.mean, std: this.opts.std, raw });
      this.all.push(p);
    }
    try {
      p.start(order);
      for (let b = await p.next(); b; b = await p.next()) {
        yield b.x;
        p.recycle(b);
      }
    } finally {
      const list = this.idle.get(key) ?? [];
      list.push(p);
      this.idle.set(key, list);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.splice(0).map((p) => p.close()));
    this.idle.clear();
    this.reader.close();
  }
}

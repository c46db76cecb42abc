import type { Rng } from '../random.js';
import type { PixelNormalization } from '../ops/normalize-pixels.js';

/** A problem with the user's data or data options; the message is one line naming the problem and the fix. */
export class DataError extends Error {
  override name = 'DataError';
}

/**
 * Examples stored row-major: example i occupies images[i*F .. (i+1)*F) with F = C*H*W; or, with `source`,
 * read on demand from it (images is then empty): prepared image shards, too large to hold in memory.
 */
export interface Split {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  source?: ExampleSource;
}

/** Examples read on demand (e.g. ImageNet's 193 GB of prepared shards) instead of held in memory. */
export interface ExampleSource {
  /** Values per example. */
  readonly features: number;
  /** Examples `indices` as float32 into out[0 .. indices.length * features). */
  read(indices: ArrayLike<number>, out: Float32Array): void;
  /**
   * The examples of `order`, batch by batch, prepared ahead of use (worker threads); each array is valid until
   * the generator is resumed. Absent: callers use read().
   */
  batches?(order: Int32Array, batchSize: number): AsyncGenerator<Float32Array>;
  /**
   * The same batches as stored 8-bit pixels, prepared ahead of use, with the normalisation that maps them to what
   * read() gives; each is valid until the generator is resumed. Training and evaluation take these when present.
   */
  pixelBatches?(order: Int32Array, batchSize: number): AsyncGenerator<Pixels>;
}

/**
 * A batch of 8-bit pixels [B, C, H, W] and the normalisation that makes them the network's input (what the source's
 * read() gives): the trainer uploads the bytes and normalises them on the GPU.
 */
export interface Pixels extends PixelNormalization { bytes: Uint8Array }

/** A batch's network input: float32 values as the network takes them, or pixels it normalises on the GPU. */
export type Inputs = Float32Array | Pixels;

/** Examples in a batch of inputs with `features` values per example. */
export function examplesIn(inputs: Inputs, features: number): number {
  return (inputs instanceof Float32Array ? inputs.length : inputs.bytes.length) / features;
}

/** A split whose examples come from a source; labels are held (label noise replaces them). */
export function streamedSplit(source: ExampleSource, labels: Int32Array): Split {
  return { images: new Float32Array(0), labels, n: labels.length, source };
}

/** The source's examples `indices` (example k of the view is example indices[k] of the source). */
export function selectSource(source: ExampleSource, indices: Int32Array): ExampleSource {
  const map = (ks: ArrayLike<number>) => Int32Array.from(ks, (k) => indices[k]);
  const view: ExampleSource = { features: source.features, read: (ks, out) => source.read(map(ks), out) };
  if (source.batches) view.batches = (order, B) => source.batches!(map(order), B);
  if (source.pixelBatches) view.pixelBatches = (order, B) => source.pixelBatches!(map(order), B);
  return view;
}

/**
 * Examples `indices` of the split (all, in order, when null) batch by batch: views of `images` in memory, or the
 * source's prefetched or read batches. Each batch is valid until the generator is resumed.
 */
export async function* inBatches(
  split: Split, batchSize: number, indices: Int32Array | null = null,
): AsyncGenerator<{ images: Float32Array; start: number; size: number }> {
  const f = featuresOf(split);
  const n = indices ? indices.length : split.n;
  const order = indices ?? Int32Array.from({ length: n }, (_, i) => i);
  if (split.source?.batches) {
    let start = 0;
    for await (const images of split.source.batches(order, batchSize)) {
      const size = images.length / f;
      yield { images, start, size };
      start += size;
    }
    return;
  }
  const buffer = !indices && !split.source ? null : new Float32Array(Math.min(batchSize, n) * f);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    if (!buffer) { yield { images: split.images.subarray(start * f, (start + size) * f), start, size }; continue; }
    readInto(split, order.subarray(start, start + size), f, buffer);
    yield { images: buffer.subarray(0, size * f), start, size };
  }
}

/** inBatches, with a source's pixel batches where it has them (the trainer's input path). */
export async function* inputBatches(
  split: Split, batchSize: number, indices: Int32Array | null = null,
): AsyncGenerator<{ inputs: Inputs; start: number; size: number }> {
  const source = split.source;
  if (!source?.pixelBatches) {
    for await (const b of inBatches(split, batchSize, indices)) yield { inputs: b.images, start: b.start, size: b.size };
    return;
  }
  const order = indices ?? Int32Array.from({ length: split.n }, (_, i) => i);
  let start = 0;
  for await (const inputs of source.pixelBatches(order, batchSize)) {
    const size = examplesIn(inputs, source.features);
    yield { inputs, start, size };
    start += size;
  }
}

export interface Dataset {
  name: string;
  train: Split;
  test: Split;
  /** [C, H, W] */
  shape: number[];
  numClasses: number;
}

/** Values per example. */
export function featuresOf(split: Split): number {
  if (split.source) return split.source.features;
  return split.n === 0 ? 0 : split.images.length / split.n;
}

/** The first n examples (views, no copy), or n examples drawn without replacement when rng is given. */
export function subset(split: Split, n: number, rng?: Rng): Split {
  if (!Number.isInteger(n) || n < 0 || n > split.n) {
    throw new DataError(`cannot take ${n} examples from a split of ${split.n}; use a count between 0 and ${split.n}`);
  }
  const f = featuresOf(split);
  if (!rng) {
    if (split.source) {
      return streamedSplit(selectSource(split.source, Int32Array.from({ length: n }, (_, i) => i)), split.labels.subarray(0, n));
    }
    return { images: split.images.subarray(0, n * f), labels: split.labels.subarray(0, n), n };
  }
  const pick = rng.permutation(split.n).subarray(0, n);
  if (split.source) return streamedSplit(selectSource(split.source, pick.slice()), Int32Array.from(pick, (i) => split.labels[i]));
  const out: Split = { images: new Float32Array(n * f), labels: new Int32Array(n), n };
  gather(split, pick, f, out.images, out.labels);
  return out;
}

function gather(split: Split, indices: Int32Array, f: number, images: Float32Array, labels: Int32Array): void {
  readInto(split, indices, f, images);
  for (let b = 0; b < indices.length; b++) labels[b] = split.labels[indices[b]];
}

/** The examples `indices` of the split into out (read from the source, or copied from memory). */
function readInto(split: Split, indices: Int32Array, f: number, out: Float32Array): void {
  if (split.source) { split.source.read(indices, out.subarray(0, indices.length * f)); return; }
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    out.set(split.images.subarray(i * f, (i + 1) * f), b * f);
  }
}

export interface Batch {
  /** size*F values; the iterator's own buffer, overwritten by the next batch. */
  images: Float32Array;
  labels: Int32Array;
  /** Which examples of the split are in this batch, in batch order. */
  indices: Int32Array;
  size: number;
}

/** A Batch whose inputs may be pixels (BatchIterator.epochInputs). */
export interface InputBatch extends Omit<Batch, 'images'> { inputs: Inputs }

export interface BatchOptions {
  /** Yield the final batch even when it is smaller than the batch size (default false). */
  keepLast?: boolean;
  /** Used in errors, e.g. "training" (the default) or "test". */
  splitName?: string;
}

/** Mini-batches in a fresh seeded order each epoch, copied into preallocated buffers. */
export class BatchIterator {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly features: number;
  readonly batchesPerEpoch: number;
  private readonly order: Int32Array;

  constructor(
    readonly split: Split,
    readonly batchSize: number,
    private readonly rng: Rng,
    options: BatchOptions = {},
  ) {
    const what = options.splitName ?? 'training';
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new DataError(`batch size ${batchSize} is not a positive integer; use a batch of 1 or more`);
    }
    if (batchSize > split.n) {
      throw new DataError(`batch size ${batchSize} is larger than the ${split.n} ${what} examples; use a batch of ${split.n} or less`);
    }
    this.features = featuresOf(split);
    this.images = new Float32Array(batchSize * this.features);
    this.labels = new Int32Array(batchSize);
    this.order = new Int32Array(split.n);
    const full = Math.floor(split.n / batchSize);
    this.batchesPerEpoch = options.keepLast && split.n % batchSize !== 0 ? full + 1 : full;
  }

  /** One epoch: reshuffles, then yields batchesPerEpoch batches, from batch `from` on (a resumed epoch skips those it took). */
  *epoch(from = 0): Generator<Batch> {
    const { order, batchSize: B, features: f } = this;
    for (let i = 0; i < order.length; i++) order[i] = i;
    this.rng.shuffle(order);
    for (let b = from; b < this.batchesPerEpoch; b++) {
      const indices = order.subarray(b * B, Math.min((b + 1) * B, order.length));
      const size = indices.length;
      gather(this.split, indices, f, this.images, this.labels);
      yield size === B
        ? { images: this.images, labels: this.labels, indices, size }
        : { images: this.images.subarray(0, size * f), labels: this.labels.subarray(0, size), indices, size };
    }
  }

  /**
   * The same epoch (same shuffle, same batches, from batch `from` on), with a streamed split's examples prepared ahead of use by its
   * source; each batch is valid until the generator is resumed. In-memory splits go through epoch().
   */
  async *epochAhead(from = 0): AsyncGenerator<Batch> {
    const source = this.split.source;
    if (!source?.batches) { yield* this.epoch(from); return; }
    for await (const b of this.streamed(from, (order, B) => source.batches!(order, B))) {
      yield { images: b.inputs, labels: b.labels, indices: b.indices, size: b.size };
    }
  }

  /** epochAhead, with the source's pixel batches where it has them (the trainer's input path; same batches otherwise). */
  async *epochInputs(from = 0): AsyncGenerator<InputBatch> {
    const source = this.split.source;
    if (!source?.pixelBatches) {
      for await (const b of this.epochAhead(from)) yield { inputs: b.images, labels: b.labels, indices: b.indices, size: b.size };
      return;
    }
    yield* this.streamed(from, (order, B) => source.pixelBatches!(order, B));
  }

  /** The epoch's batches as `batches` yields them for the shuffled order, from batch `from` on. */
  private async *streamed<T extends Inputs>(from: number, batches: (order: Int32Array, B: number) => AsyncGenerator<T>,
  ): AsyncGenerator<Omit<InputBatch, 'inputs'> & { inputs: T }> {
    const { order, batchSize: B } = this;
    for (let i = 0; i < order.length; i++) order[i] = i;
    this.rng.shuffle(order);
    const used = order.subarray(Math.min(from * B, order.length), Math.min(this.batchesPerEpoch * B, order.length));
    let b = 0;
    for await (const inputs of batches(used, B)) {
      const indices = used.subarray(b * B, Math.min((b + 1) * B, used.length));
      const size = indices.length;
      for (let k = 0; k < size; k++) this.labels[k] = this.split.labels[indices[k]];
      yield { inputs, labels: size === B ? this.labels : this.labels.subarray(0, size), indices, size };
      b++;
    }
  }
}

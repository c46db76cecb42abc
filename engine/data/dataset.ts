import type { Rng } from '../random.js';

/** A problem with the user's data or data options; the message is one line naming the problem and the fix. */
export class DataError extends Error {
  override name = 'DataError';
}

/** Examples stored row-major: example i occupies images[i*F .. (i+1)*F) with F = C*H*W. */
export interface Split {
  images: Float32Array;
  labels: Int32Array;
  n: number;
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
  return split.n === 0 ? 0 : split.images.length / split.n;
}

/** The first n examples (views, no copy), or n examples drawn without replacement when rng is given. */
export function subset(split: Split, n: number, rng?: Rng): Split {
  if (!Number.isInteger(n) || n < 0 || n > split.n) {
    throw new DataError(`cannot take ${n} examples from a split of ${split.n}; use a count between 0 and ${split.n}`);
  }
  const f = featuresOf(split);
  if (!rng) {
    return { images: split.images.subarray(0, n * f), labels: split.labels.subarray(0, n), n };
  }
  const pick = rng.permutation(split.n).subarray(0, n);
  const out: Split = { images: new Float32Array(n * f), labels: new Int32Array(n), n };
  gather(split, pick, f, out.images, out.labels);
  return out;
}

function gather(split: Split, indices: Int32Array, f: number, images: Float32Array, labels: Int32Array): void {
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    images.set(split.images.subarray(i * f, (i + 1) * f), b * f);
    labels[b] = split.labels[i];
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

  /** One epoch: reshuffles, then yields batchesPerEpoch batches. */
  *epoch(): Generator<Batch> {
    const { order, batchSize: B, features: f } = this;
    for (let i = 0; i < order.length; i++) order[i] = i;
    this.rng.shuffle(order);
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const indices = order.subarray(b * B, Math.min((b + 1) * B, order.length));
      const size = indices.length;
      gather(this.split, indices, f, this.images, this.labels);
      yield size === B
        ? { images: this.images, labels: this.labels, indices, size }
        : { images: this.images.subarray(0, size * f), labels: this.labels.subarray(0, size), indices, size };
    }
  }
}

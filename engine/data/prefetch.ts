/**
 * Batches of a prepared split, read and normalised ahead of use by worker threads so the trainer does not wait:
 * `depth` batches are in flight, spread over `workers` threads, and come back in the order asked for.
 * Memory: depth batches of float32 plus the readers' labels, whatever the dataset's size.
 */
import { Worker } from 'node:worker_threads';
import { normalization, IMAGENET_MEAN, IMAGENET_STD } from './normalize.js';
import { ShardReader } from './shard-reader.js';

export interface BatchRequest { id: number; indices: Int32Array }
export interface BatchReply { id: number; x: Float32Array | Uint8Array; y: Int32Array }
/** x: [B, 3, H, W], normalised float32, or the stored uint8 when the prefetcher was made with raw: true. */
export interface Batch { x: Float32Array | Uint8Array; y: Int32Array; indices: Int32Array }

export interface PrefetchOptions {
  batchSize: number;
  workers?: number;
  /** Batches in flight (default 2 per worker). */
  depth?: number;
  mean?: readonly number[];
  std?: readonly number[];
  /** Deliver the stored uint8 pixels (normalised later, e.g. on the GPU) instead of float32. */
  raw?: boolean;
  /** Keep a last batch smaller than batchSize (default true). */
  keepLast?: boolean;
}

export class BatchPrefetcher {
  readonly reader: ShardReader;
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (b: BatchReply) => void; reject: (e: Error) => void }>();
  private readonly arrived = new Map<number, BatchReply>();
  private readonly requested: { id: number; indices: Int32Array }[] = [];
  private order: ArrayLike<number> = [];
  private nextStart = 0;
  private nextId = 0;
  private recycleTurn = 0;
  private failure: Error | null = null;
  /** Requests of an abandoned epoch whose replies are dropped on arrival. */
  private readonly stale = new Set<number>();
  private holding = false;

  constructor(readonly dir: string, readonly split: string, private readonly opts: PrefetchOptions) {
    this.reader = new ShardReader(dir, split);
    const norm = normalization(opts.mean ?? IMAGENET_MEAN, opts.std ?? IMAGENET_STD);
    for (let w = 0; w < (opts.workers ?? 1); w++) {
      const worker = new Worker(new URL('./prefetch-worker.js', import.meta.url), { workerData: { dir, split, norm, raw: opts.raw ?? false } });
      worker.on('message', (r: BatchReply) => this.arrive(r));
      worker.on('error', (e) => this.fail(e));
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Workers keep the process alive only while batches are in flight, so a forgotten close() cannot hang an exit. */
  private holdProcess(): void {
    const busy = this.requested.length > 0 || this.stale.size > 0;
    if (busy === this.holding) return;
    this.holding = busy;
    for (const w of this.workers) if (busy) w.ref(); else w.unref();
  }

  /** Start an epoch over these example indices (e.g. a seeded permutation); batches still in flight are dropped. */
  start(order: ArrayLike<number>): void {
    for (const r of this.requested.splice(0)) {
      const early = this.arrived.get(r.id);
      if (early) { this.arrived.delete(r.id); this.recycleBuffer(early.x); } else this.stale.add(r.id);
    }
    this.order = order;
    this.nextStart = 0;
    this.fill();
  }

  /** The next batch of the epoch, or null at its end. */
  async next(): Promise<Batch | null> {
    if (this.failure) throw this.failure;
    const req = this.requested[0];
    if (!req) return null;
    const reply = this.arrived.get(req.id) ?? await new Promise<BatchReply>((resolve, reject) => this.waiting.set(req.id, { resolve, reject }));
    this.arrived.delete(req.id);
    this.requested.shift();
    this.fill();
    return { x: reply.x, y: reply.y, indices: req.indices };
  }

  /** Give a batch's buffer back for reuse once it has been uploaded. */
  recycle(batch: Batch): void {
    this.recycleBuffer(batch.x);
  }

  private recycleBuffer(x: Float32Array | Uint8Array): void {
    const w = this.workers[this.recycleTurn++ % this.workers.length];
    w.postMessage({ recycle: x }, [x.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.reader.close();
  }

  private fill(): void {
    const depth = this.opts.depth ?? 2 * this.workers.length;
    const B = this.opts.batchSize;
    while (this.requested.length < depth && this.nextStart < this.order.length) {
      const end = Math.min(this.nextStart + B, this.order.length);
      if (end - this.nextStart < B && this.opts.keepLast === false) { this.nextStart = end; break; }
      const indices = Int32Array.from({ length: end - this.nextStart }, (_, k) => this.order[this.nextStart + k]);
      for (const i of indices) if (!(i >= 0 && i < this.reader.count)) throw new RangeError(`example ${i} is outside 0..${this.reader.count - 1}`);
      this.nextStart = end;
      const id = this.nextId++;
      this.requested.push({ id, indices });
      this.workers[id % this.workers.length].postMessage({ id, indices } satisfies BatchRequest);
    }
    this.holdProcess();
  }

  private arrive(r: BatchReply): void {
    if (this.stale.delete(r.id)) { this.recycleBuffer(r.x); this.holdProcess(); return; }
    const w = this.waiting.get(r.id);
    if (w) { this.waiting.delete(r.id); w.resolve(r); } else this.arrived.set(r.id, r);
  }

  private fail(e: Error): void {
    this.failure = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}

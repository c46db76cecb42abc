import { test } from 'uvu';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getGpu } from '../engine/context.js';
import { BatchIterator, ExampleSource, Split, streamedSplit, subset } from '../engine/data/dataset.js';
import { ShardSource } from '../engine/data/shard-source.js';
import { normalization, normalizeInto } from '../engine/data/normalize.js';
import { FORMAT, MANIFEST, shardFile } from '../engine/data/shards.js';
import { writeShard } from '../engine/data/write-shard.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { Mlp } from '../models/mlp.js';
import { randn } from './helpers/check.js';

const [n, f, C] = [37, 12, 7];
const rng0 = new Rng(3);
const memory: Split = { images: randn(rng0, n * f), labels: Int32Array.from({ length: n }, () => rng0.int(C)), n };

/** The same examples behind the source interface, with and without batches prepared ahead. */
function source(ahead: boolean): ExampleSource {
  const s: ExampleSource = {
    features: f,
    read(indices, out) { for (let k = 0; k < indices.length; k++) out.set(memory.images.subarray(indices[k] * f, (indices[k] + 1) * f), k * f); },
  };
  if (ahead) {
    s.batches = async function* (order, B) {
      for (let start = 0; start < order.length; start += B) {
        const ids = order.subarray(start, Math.min(start + B, order.length));
        const out = new Float32Array(ids.length * f);
        s.read(ids, out);
        yield out;
      }
    };
  }
  return s;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);

test('a streamed split gives the same batches as the in-memory one, epoch after epoch, with or without prefetching', async () => {
  for (const ahead of [false, true]) {
    for (const keepLast of [false, true]) {
      const a = new BatchIterator(memory, 8, new Rng(9), { keepLast });
      const b = new BatchIterator(streamedSplit(source(ahead), memory.labels), 8, new Rng(9), { keepLast });
      for (let epoch = 0; epoch < 2; epoch++) {
        const got: string[] = [];
        for await (const x of b.epochAhead()) got.push(`${Array.from(x.images)}|${x.labels}|${x.indices}`);
        const want: string[] = [];
        for (const x of a.epoch()) want.push(`${Array.from(x.images)}|${x.labels}|${x.indices}`); // each batch reuses the buffer
        if (got.length !== want.length || got.some((g, i) => g !== want[i])) {
          throw new Error(`ahead ${ahead} keepLast ${keepLast} epoch ${epoch}: batches differ`);
        }
      }
    }
  }
});

test('subsets of a streamed split hold the same examples as subsets in memory', () => {
  const streamed = streamedSplit(source(true), memory.labels);
  for (const r of [undefined, 5]) {
    const a = subset(memory, 11, r === undefined ? undefined : new Rng(r));
    const b = subset(streamed, 11, r === undefined ? undefined : new Rng(r));
    const it = new BatchIterator(b, 11, new Rng(1)), ref = new BatchIterator(a, 11, new Rng(1));
    const x = [...it.epoch()][0], y = [...ref.epoch()][0];
    if (!same(x.images, y.images) || !same(x.labels, y.labels)) throw new Error(`subset ${r}: examples differ`);
  }
});

test('evaluation of a streamed split, and of chosen examples by index, equals evaluation of the examples in memory, top-5 included', async () => {
  const gpu = await getGpu();
  const trainer = new Trainer(gpu, new Mlp([f], C, [9], new Rng(2)), { batchSize: 8, sgd: { lr: 0.1, momentum: 0, weightDecay: 0 }, evalBatchSize: 10 });
  const a = await trainer.evaluate(memory, { perExample: true });
  const b = await trainer.evaluate(streamedSplit(source(true), memory.labels), { perExample: true });
  if (a.loss !== b.loss || a.accuracy !== b.accuracy || a.top5 !== b.top5 || !same(a.correct5!, b.correct5!)) throw new Error('streamed evaluation differs');
  if (!(a.top5 >= a.accuracy) || a.top5 === 1) throw new Error(`top-5 ${a.top5} vs top-1 ${a.accuracy} with ${C} classes`);
  const pick = Int32Array.from([30, 2, 17, 17, 36, 0]);
  const gathered: Split = { images: new Float32Array(pick.length * f), labels: Int32Array.from(pick, (i) => memory.labels[i]), n: pick.length };
  source(false).read(pick, gathered.images);
  const c = await trainer.evaluate(streamedSplit(source(false), memory.labels), { indices: pick });
  const d = await trainer.evaluate(gathered);
  if (c.loss !== d.loss || c.accuracy !== d.accuracy || c.top5 !== d.top5) throw new Error(`by index ${JSON.stringify(c)} vs gathered ${JSON.stringify(d)}`);
});

test('a prepared shard folder as a source: prefetched batches equal batches read on the main thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cgh-source-'));
  let src: ShardSource | undefined;
  try {
    mkdirSync(join(dir, 'train'));
    const size = 4, per = 48, rng = new Rng(8);
    const images = Uint8Array.from({ length: 20 * per }, () => rng.int(256));
    writeShard(join(dir, shardFile('train', 0)), images.subarray(0, 12 * per), Array.from({ length: 12 }, (_, i) => i % 3), size);
    writeShard(join(dir, shardFile('train', 1)), images.subarray(12 * per), Array.from({ length: 8 }, (_, i) => (12 + i) % 3), size);
    const shards = [{ file: shardFile('train', 0), count: 12 }, { file: shardFile('train', 1), count: 8 }];
    const manifest = { format: FORMAT, version: 1, resize: size, crop: size, shardSize: 12, classes: 3, splits: { train: { count: 20, shards } } };
    writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest));
    const source = new ShardSource(dir, 'train', { workers: 2 });
    src = source;
    const split = source.asSplit();
    const plain = streamedSplit({ features: source.features, read: (i, o) => source.read(i, o) }, split.labels);
    for (let epoch = 0; epoch < 2; epoch++) {
      const a = new BatchIterator(split, 6, new Rng(epoch), { keepLast: true }), b = new BatchIterator(plain, 6, new Rng(epoch), { keepLast: true });
      const got: Float32Array[] = [];
      for await (const x of a.epochAhead()) got.push(x.images.slice());
      const want: Float32Array[] = [];
      for (const x of b.epoch()) want.push(x.images.slice());
      if (got.length !== want.length || got.some((g, i) => !same(g, want[i]))) throw new Error(`epoch ${epoch}: prefetched batches differ`);
      // The same epoch as pixels (the trainer's path): the stored bytes of the same examples, with the same labels and order.
      const c = new BatchIterator(split, 6, new Rng(epoch), { keepLast: true }), d = new BatchIterator(plain, 6, new Rng(epoch), { keepLast: true });
      const ref: string[] = [];
      for (const x of d.epoch()) ref.push(`${x.labels}|${x.indices}`); // each batch reuses the labels buffer
      let k = 0;
      for await (const x of c.epochInputs()) {
        if (x.inputs instanceof Float32Array) throw new Error('a prepared folder gave float32 batches to the trainer\'s path');
        const floats = new Float32Array(x.inputs.bytes.length);
        for (let b = 0; b < x.size; b++) normalizeInto(x.inputs.bytes.subarray(b * 48), 16, normalization(x.inputs.mean, x.inputs.std), floats, b * 48);
        if (!same(floats, want[k]) || `${x.labels}|${x.indices}` !== ref[k]) throw new Error(`epoch ${epoch} batch ${k}: pixel batches differ`);
        k++;
      }
      if (k !== want.length) throw new Error(`epoch ${epoch}: ${k} pixel batches, ${want.length} float32`);
    }
  } finally {
    await src?.close(); // also when a check fails: its prefetch threads would keep the process alive
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

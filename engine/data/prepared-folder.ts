// A folder made by `cgh prepare` as a Dataset whose splits stream from the shards (train, and val as the test split).
import path from 'node:path';
import { DataError, type Dataset } from './dataset.js';
import { ShardError, readManifest } from './shard-reader.js';
import { ShardSource } from './shard-source.js';

export function loadPreparedFolder(dir: string): Dataset {
  try {
    const m = readManifest(dir);
    if (!m.splits.train || !m.splits.val) {
      throw new DataError(`${dir} has the splits ${Object.keys(m.splits).join(', ')}, not train and val; prepare it from a source with train/ and val/`);
    }
    const train = new ShardSource(dir, 'train');
    const test = new ShardSource(dir, 'val');
    return { name: path.basename(path.resolve(dir)), train: train.asSplit(), test: test.asSplit(), shape: [3, m.crop, m.crop], numClasses: m.classes };
  } catch (e) {
    if (e instanceof ShardError) throw new DataError(e.message);
    throw e;
  }
}

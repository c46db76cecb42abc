import { Rng } from '../../engine/random.js';
import { DataError, subset, type Dataset, type Split } from '../../engine/data/dataset.js';
import { loadDataset, loadIdxDir } from '../../engine/data/node-data.js';
import { gatherExamples, sampleIndices } from './eval-sets.js';
import type { TrainSettings } from './grid-run.js';

/** The examples an experiment works with: the first trainSize training images and a seeded sample of the test set. */
export interface ExperimentData {
  name: string;
  train: Split;
  test: Split;
  numClasses: number;
  inputShape: number[];
}

/** Loads the dataset named in the settings (dataset 'idx' is any folder of IDX files). */
export async function loadExperimentData(s: Pick<TrainSettings, 'dataset' | 'dataDir' | 'trainSize' | 'testSize' | 'dataSeed'>): Promise<ExperimentData> {
  let ds: Dataset;
  if (s.dataset === 'idx') {
    if (!s.dataDir) throw new DataError('--dataset idx needs --data-dir DIR holding train-images-idx3-ubyte, train-labels-idx1-ubyte, '
      + 't10k-images-idx3-ubyte and t10k-labels-idx1-ubyte');
    ds = await loadIdxDir(s.dataDir);
  } else {
    ds = await loadDataset({ dataset: s.dataset, dataDir: s.dataDir });
  }
  if (s.trainSize !== undefined && s.trainSize > ds.train.n) {
    throw new DataError(`--train-size ${s.trainSize} is larger than the ${ds.train.n} training examples of ${ds.name}; use ${ds.train.n} or less`);
  }
  if (s.testSize !== undefined && s.testSize > ds.test.n) {
    throw new DataError(`--test-size ${s.testSize} is larger than the ${ds.test.n} test examples of ${ds.name}; use ${ds.test.n} or less`);
  }
  const train = s.trainSize !== undefined ? subset(ds.train, s.trainSize) : ds.train;
  const test = s.testSize !== undefined && s.testSize < ds.test.n
    ? gatherExamples(ds.test, sampleIndices(ds.test.n, s.testSize, new Rng(s.dataSeed * 2 + 3)))
    : ds.test;
  return { name: ds.name, train, test, numClasses: ds.numClasses, inputShape: ds.shape };
}

import { evals, type LoadedExperiment, type LoadedRun } from './data.js';

/** Every run's config, for the report's "Run configs" list. */
export function configsOf(e: LoadedExperiment): { name: string; config: unknown }[] {
  return [...e.runs.values()].map((r) => ({ name: r.name, config: r.config }));
}

/** "mnist (1000 training examples) with an MLP (hidden 128), batch 50, lr 0.1, momentum 0.9" */
export function describeData(run: LoadedRun | undefined): string {
  if (!run) return 'the data';
  const c = run.config;
  const model = c.model === 'mlp' ? `an MLP (hidden ${c.hidden.join(',')})` : c.model;
  const n = evals(run, 'train')[0]?.n ?? evals(run, 'train-sample')[0]?.n;
  return `${datasetName(run)}${n ? ` (${n} training examples)` : ''} with ${model}, batch ${c.batchSize}, lr ${c.lr}, momentum ${c.momentum}`;
}

/** The dataset as the user knows it: the folder given with --data-dir when there is one, else the dataset's name. */
export function datasetName(run: LoadedRun): string {
  const c = run.config;
  if (c.dataDir) return `${c.dataset} from ${c.dataDir}`;
  return c.dataset === 'mnist' ? 'MNIST (the embedded copy)' : c.dataset;
}

/** "12.5% (16 of 128)" dead hidden units of a finished run; "n/a" when not measured. */
export function deadText(run: LoadedRun | undefined): string {
  const d = run?.summary?.deadUnits;
  return d ? `${((d.dead / d.units) * 100).toFixed(1)}% (${d.dead} of ${d.units})` : 'n/a';
}

/** "finished", "unfinished", "diverged at step N", ... of a run. */
export function statusText(r: LoadedRun | undefined): string {
  return !r ? 'missing' : !r.summary ? 'unfinished' : r.summary.status === 'diverged' ? `diverged at step ${r.summary.divergedAtStep}` : r.summary.status;
}

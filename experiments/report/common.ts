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
  return `${c.dataset}${n ? ` (${n} training examples)` : ''} with ${model}, batch ${c.batchSize}, lr ${c.lr}, momentum ${c.momentum}`;
}

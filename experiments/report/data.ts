import fs from 'node:fs';
import path from 'node:path';
import { readSpec, type ExperimentSpec } from '../protocols/experiment-folder.js';
import type { EvalRow, MetricRow, RunConfig, RunSummary } from '../run/grid-run.js';

/** An experiment folder as the report reads it: the spec and every run's config, rows and summary. */
export interface LoadedRun {
  name: string;
  dir: string;
  config: RunConfig;
  rows: MetricRow[];
  /** null while the run is unfinished. */
  summary: RunSummary | null;
}

export interface LoadedExperiment {
  root: string;
  spec: ExperimentSpec;
  runs: Map<string, LoadedRun>;
}

export function loadExperiment(root: string): LoadedExperiment {
  const spec = readSpec(root);
  const runs = new Map<string, LoadedRun>();
  for (const name of fs.readdirSync(root).sort()) {
    const dir = path.join(root, name);
    const configFile = path.join(dir, 'config.json');
    if (!fs.existsSync(configFile)) continue;
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as RunConfig;
    const rows = readRows(path.join(dir, 'metrics.jsonl'));
    const summaryFile = path.join(dir, 'summary.json');
    const summary = fs.existsSync(summaryFile) ? (JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as RunSummary) : null;
    runs.set(name, { name, dir, config, rows, summary });
  }
  return { root, spec, runs };
}

function readRows(file: string): MetricRow[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  return text.slice(0, end).split('\n').map((l) => JSON.parse(l) as MetricRow);
}

export function evals(run: LoadedRun | undefined, set: string): EvalRow[] {
  return run ? run.rows.filter((r): r is EvalRow => r.kind === 'eval' && r.set === set) : [];
}

/** [epoch, value] points of one set; accuracy in percent. */
export function curve(run: LoadedRun | undefined, set: string, field: 'acc' | 'loss'): [number, number][] {
  return evals(run, set).map((r) => [r.epoch, field === 'acc' ? r.acc * 100 : (r.loss ?? NaN)]);
}

/** The first evaluated epoch at which the set's accuracy is at least `acc`; null if never. */
export function epochsTo(run: LoadedRun | undefined, set: string, acc: number): number | null {
  const hit = evals(run, set).find((r) => r.acc >= acc);
  return hit ? hit.epoch : null;
}

/** The set's last value; NaN when never evaluated (or, for top5, from rows written before top-5 was measured). */
export function finalOf(run: LoadedRun | undefined, set: string, field: 'acc' | 'loss' | 'top5' = 'acc'): number {
  const e = evals(run, set);
  return e.length ? (e[e.length - 1][field] ?? NaN) : NaN;
}

/**
 * Whether a top-5 column says anything about these runs: their evaluations carry top-5 and one is below 1. With five
 * classes or fewer top-5 is always 1; with more, an untrained model's first evaluation is already below it.
 */
export function showsTopFive(runs: Iterable<LoadedRun | undefined>): boolean {
  for (const run of runs) for (const r of run?.rows ?? []) if (r.kind === 'eval' && typeof r.top5 === 'number' && r.top5 < 1) return true;
  return false;
}

export function peakOf(run: LoadedRun | undefined, set: string): number {
  const e = evals(run, set);
  return e.length ? Math.max(...e.map((r) => r.acc)) : NaN;
}

/** Epochs trained (from the last row). */
export function epochsTrained(run: LoadedRun | undefined): number {
  if (!run || run.rows.length === 0) return 0;
  return Math.max(...run.rows.map((r) => r.epoch));
}

export function pct(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a';
}

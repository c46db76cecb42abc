import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../../engine/context.js';
import { executeRun, ExperimentError, type EpochRow, type EvalRow, type RunConfig, type RunData, type RunHooks, type RunResult } from '../run/grid-run.js';
import { loadExperimentData, type ExperimentData } from '../run/experiment-data.js';
import { RunError } from '../run/run-folder.js';
import { resumePoint } from '../run/epoch-position.js';
import { releaseFolder } from '../files/folder-lock.js';
import { writeReport } from '../report/index.js';
import { openExperimentFolder, readSpec, type ExperimentSpec } from './experiment-folder.js';
import { findProtocol, protocolNames } from './index.js';
import type { GridContext, PlannedRun, Protocol } from './protocol.js';
import { costKey, gridWork, measureCost, planLines, PlanTracker, type Cost } from './plan-estimate.js';

/**
 * An experiment folder as a grid of runs, each executable on its own: planGrid lists the runs with their
 * dependencies, executeGridRun runs (or resumes, or reads back) exactly one of them, writeGridReport writes
 * the report of whatever has finished. A worker that is handed a folder and a run name needs nothing else;
 * the local path (cgh experiment, cgh reproduce) is runGrid: open the folder, every run in order, the report.
 */
export interface GridPlan { experiment: string; runs: { name: string; dependsOn: string[] }[] }

export interface GridRunOptions {
  /** WebGPU adapter whose name contains this. */
  adapter?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Stops the run before a step or between evaluation batches, checkpointed there for an exact resume (a RunInterrupted rejection). */
  signal?: AbortSignal;
  /** One line per epoch as well as per run. */
  verbose?: boolean;
  /** Passed to the run (tests simulate kills here). */
  hooks?: RunHooks;
  /** The grid's name in progress lines: the experiment, or the reproduce part's folder where one experiment has two. */
  label?: string;
}

export async function planGrid(folder: string): Promise<GridPlan> {
  const { spec, runs } = gridOf(folder);
  return { experiment: spec.experiment, runs: runs.map((r) => ({ name: r.name, dependsOn: [...r.dependsOn] })) };
}

export async function executeGridRun(folder: string, run: string, opts: GridRunOptions = {}): Promise<void> {
  const { spec, runs } = gridOf(folder);
  const planned = runs.find((r) => r.name === run);
  if (!planned) throw new ExperimentError(`${run} is not a run of the ${spec.experiment} experiment in ${folder}; its runs are `
    + `${runs.map((r) => r.name).join(', ')}`);
  const missing = planned.dependsOn.filter((d) => !isFinished(folder, d));
  if (missing.length > 0) throw new ExperimentError(`run ${run} of ${folder} needs ${missing.join(', ')} finished first; run `
    + `${missing.length > 1 ? 'them' : 'it'} first`);
  if (opts.adapter !== undefined) await getGpu({ adapterName: opts.adapter });
  const ctx = await contextOf(folder, spec, runs);
  const { config, data } = await planned.prepare(ctx);
  const result = await loggedRun(path.join(folder, run), spec.experiment, config, data, opts);
  planned.check?.(result);
  await planned.finish?.(ctx);
}

/** Writes report.html and its CSVs for the experiment folder (or a folder of them); returns the page's path. */
export async function writeGridReport(folder: string): Promise<string> {
  return writeReport(folder);
}

/** What cgh experiment asks for: the protocol's options, the settings and the command that recorded them. */
export interface ExperimentRequest {
  preset: string;
  settings: ExperimentSpec['settings'];
  options: Record<string, unknown>;
  command: string;
  version?: string;
}

/** Checks a request against its protocol before anything is loaded or written. */
export function validateRequest(name: string, r: ExperimentRequest): Protocol<any> {
  const protocol = protocolOf(name);
  protocol.validate(r.options, r.settings);
  return protocol;
}

/**
 * Checks the request, loads the data (so that bad data refuses before the folder exists) and creates or
 * reopens the folder, which this process then holds; what the local path and the queue's producer share.
 */
export async function openGrid(name: string, out: string, r: ExperimentRequest): Promise<void> {
  const protocol = validateRequest(name, r);
  await dataOf(r.settings);
  openExperimentFolder(out, { experiment: name, ...r }, protocol.mutable);
}

/**
 * The local path: the plan with its estimate (unless a tracker numbering several grids' runs is given), openGrid,
 * then every run of the grid in order and the report; returns the report's path.
 */
export async function runGrid(name: string, out: string, r: ExperimentRequest, opts: GridRunOptions & { tracker?: PlanTracker } = {})
  : Promise<string> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  // The folder before the plan: a folder another process holds is refused before any plan is printed.
  await openGrid(name, out, r);
  const tracker = opts.tracker ?? await planGrids([{ experiment: name, out, request: r }], { ...opts, log });
  const { runs } = gridOf(out);
  const label = opts.label ?? name;
  for (const run of topologicalOrder(runs)) {
    const line = tracker.starting(label, run.name);
    if (line) log(line);
    const t0 = performance.now();
    await executeGridRun(out, run.name, { ...opts, label });
    tracker.finished(label, run.name, (performance.now() - t0) / 1000);
  }
  return writeGridReport(out);
}

/**
 * Prints the plan of one or more experiments with an estimated time (the cost of an example measured on this adapter
 * with each experiment's model) and returns the tracker that numbers their runs. Writes nothing.
 */
export async function planGrids(parts: { experiment: string; out: string; request: ExperimentRequest; label?: string }[], opts: GridRunOptions = {})
  : Promise<PlanTracker> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const works = parts.map((p) => gridWork(validateRequest(p.experiment, p.request), { experiment: p.experiment, ...p.request }, p.out, p.label));
  const work = works.flat();
  // Nothing left to run: no plan to show, and no need to measure anything.
  if (work.every((w) => w.finished)) return new PlanTracker(work, { trainS: 0, evalS: 0 });
  // One measurement per model among the parts with runs to do (cgh reproduce trains several).
  const gpu = await getGpu({ adapterName: opts.adapter });
  const costs = new Map<string, Cost>();
  for (const [i, p] of parts.entries()) {
    if (works[i].every((w) => w.finished)) continue;
    const s = p.request.settings, key = costKey(s);
    if (!costs.has(key)) costs.set(key, await measureCost(gpu, await dataOf(s), s));
    for (const w of works[i]) w.cost = costs.get(key);
  }
  const cost = [...costs.values()][0];
  for (const line of planLines(work, cost)) log(line);
  return new PlanTracker(work, cost);
}

function protocolOf(name: string): Protocol<any> {
  const p = findProtocol(name);
  if (!p) throw new RunError(`unknown experiment "${name}"; this build has ${protocolNames().join(', ')}`);
  return p;
}

function gridOf(folder: string): { spec: ExperimentSpec; runs: PlannedRun[] } {
  const spec = readSpec(folder);
  return { spec, runs: protocolOf(spec.experiment).plan(spec) };
}

function isFinished(folder: string, run: string): boolean {
  return fs.existsSync(path.join(folder, run, 'summary.json'));
}

/** The runs in plan order, each after the runs it depends on. */
export function topologicalOrder(runs: readonly PlannedRun[]): PlannedRun[] {
  const byName = new Map(runs.map((r) => [r.name, r]));
  const out: PlannedRun[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: PlannedRun) => {
    if (state.get(r.name) === 'done') return;
    if (state.get(r.name) === 'visiting') throw new Error(`the runs of the grid depend on each other in a circle at ${r.name}`);
    state.set(r.name, 'visiting');
    for (const d of r.dependsOn) {
      const dep = byName.get(d);
      if (!dep) throw new Error(`run ${r.name} depends on ${d}, which is not in the grid`);
      visit(dep);
    }
    state.set(r.name, 'done');
    out.push(r);
  };
  runs.forEach(visit);
  return out;
}

// The data of the latest experiment settings, so that the runs of one grid load it once.
let cachedData: { key: string; data: ExperimentData } | null = null;

async function dataOf(s: ExperimentSpec['settings']): Promise<ExperimentData> {
  const key = JSON.stringify([s.dataset, s.dataDir, s.trainSize, s.testSize, s.dataSeed]);
  if (cachedData?.key !== key) cachedData = { key, data: await loadExperimentData(s) };
  return cachedData.data;
}

async function contextOf(root: string, spec: ExperimentSpec, runs: PlannedRun[]): Promise<GridContext> {
  const data = await dataOf(spec.settings);
  const ctx: GridContext = {
    root, spec, data,
    config: (run, own, runData) => configOf(spec, run, own, runData),
    finished: (run) => isFinished(root, run),
    result: async (run) => {
      const planned = runs.find((r) => r.name === run);
      if (!planned) throw new Error(`${run} is not a run of this grid`);
      if (!isFinished(root, run)) throw new ExperimentError(`run ${run} of ${root} has not finished; run it first`);
      const { config, data: runData } = await planned.prepare(ctx);
      const result = await executeRun(path.join(root, run), config, runData);
      planned.check?.(result);
      return result;
    },
  };
  return ctx;
}

/** A run's config: the experiment's settings with the run's own choices. */
function configOf(spec: ExperimentSpec, run: string, own: Partial<RunConfig>, data: RunData): RunConfig {
  const { rule = 'sgd', groups = 3, winsor = 0, noise = 0, ...rest } = own;
  return {
    ...spec.settings,
    experiment: spec.experiment,
    run,
    rule, groups, winsor, noise,
    evalSets: data.evalSets.map((e) => ({ name: e.name, count: e.split.n })),
    ...rest,
  };
}

/** A run that has said nothing for this long says where it is at its next epoch end, even when not verbose. */
const QUIET_MS = 10_000;

/**
 * Executes one run with a line when it starts or resumes, per epoch when verbose (otherwise at an epoch end after
 * QUIET_MS of silence, so that long runs never look stuck), and when it ends.
 */
async function loggedRun(dir: string, experiment: string, config: RunConfig, data: RunData, opts: GridRunOptions): Promise<RunResult> {
  const write = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  let lastLine = performance.now();
  const log = (line: string) => { write(line); lastLine = performance.now(); };
  const label = `${opts.label ?? experiment}/${config.run}`;
  const t0 = performance.now();
  const hooks: RunHooks = {
    ...opts.hooks,
    signal: opts.signal ?? opts.hooks?.signal,
    onStart: (epoch, step, inside) => {
      opts.hooks?.onStart?.(epoch, step, inside);
      log(step > 0 ? `${label}: resuming ${resumePoint(epoch, step, inside)}` : `${label}: ${describe(config)}`);
    },
    onEpoch: (row, evals) => {
      opts.hooks?.onEpoch?.(row, evals);
      if (opts.verbose || performance.now() - lastLine > QUIET_MS) {
        log(`  ${label} epoch ${row.epoch}/${config.epochs}: ${brief(evals)} (${row.elapsed_s.toFixed(0)}s)`);
      }
    },
  };
  let result: RunResult;
  try {
    result = await executeRun(dir, config, data, hooks);
  } finally {
    // A finished (or failed) run leaves no lock behind, so its folder is exactly what it wrote.
    releaseFolder(dir);
  }
  const s = result.summary;
  const took = result.skipped ? 'already done' : `${((performance.now() - t0) / 1000).toFixed(0)}s`;
  const how = s.status === 'stopped' ? `stopped at epoch ${s.epochs.toFixed(2)} (${s.stop!.set} ${pct(s.stop!.acc)})`
    : s.status === 'diverged' ? `diverged at step ${s.divergedAtStep}`
    : s.status === 'not-reached' ? `did not reach ${config.stopAt!.set} ${pct(config.stopAt!.acc)} in ${s.epochs} epochs`
    : `${s.epochs} epochs`;
  log(`${label}: ${how}; ${brief(lastEvals(result.rows))}; ${took}`);
  return result;
}

function describe(c: RunConfig): string {
  const model = c.model === 'mlp' ? `mlp ${c.hidden.join(',')}` : c.model;
  const rule = c.rule === 'winsorize' ? `winsorize s=${c.winsor}` : c.rule;
  return `${model}, ${rule}, noise ${+(c.noise * 100).toFixed(1)}%, batch ${c.batchSize}, lr ${c.lr}, momentum ${c.momentum}, up to ${c.epochs} epochs`;
}

function lastEvals(rows: (EvalRow | EpochRow)[]): EvalRow[] {
  const evals = rows.filter((r): r is EvalRow => r.kind === 'eval');
  if (evals.length === 0) return [];
  const step = evals[evals.length - 1].step;
  return evals.filter((r) => r.step === step);
}

function brief(evals: EvalRow[]): string {
  return evals.filter((r) => r.set !== 'train-sample').map((r) => `${r.set} ${pct(r.acc)}`).join(', ');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

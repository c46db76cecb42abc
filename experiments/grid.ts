import fs from 'node:fs';
import path from 'node:path';
import { RunError } from './run-folder.js';
import { executeRun, type EpochRow, type EvalRow, type RunConfig, type RunData, type RunHooks, type RunResult, type TrainSettings } from './experiment-run.js';
import type { RuleName } from './rules/index.js';
import type { ExperimentName } from './presets.js';
import { makeFolder, removeStaleTempFiles, writeFileAtomic } from './files/durable-file.js';
import { lockFolder, releaseFolder } from './files/folder-lock.js';

/**
 * An experiment: a grid of runs in one folder. experiment.json records what was asked (the experiment,
 * preset, settings and options) and the exact command; each run lives in its own subfolder. Running
 * the same command again resumes: finished runs are read back, an interrupted one continues from its
 * last checkpoint, and settings that differ from the folder's are refused before anything is written.
 */
export interface ExperimentSpec {
  experiment: ExperimentName;
  preset: string;
  settings: TrainSettings;
  /** The experiment's own parameters (noise levels, rules, thresholds...). */
  options: Record<string, unknown>;
  /** The command line that produced it, for the report. */
  command: string;
  version?: string;
}

export const EXPERIMENT_FILE = 'experiment.json';

export interface ExperimentOptions {
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void;
  /** One line per epoch as well as per run. */
  verbose?: boolean;
  /** Passed to every run (tests simulate kills here). */
  hooks?: RunHooks;
}

export class Experiment {
  readonly results = new Map<string, RunResult>();
  private readonly log: (line: string) => void;

  private constructor(readonly root: string, readonly spec: ExperimentSpec, private readonly opts: ExperimentOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(line + '\n'));
  }

  /** Creates the folder, or checks that the one there holds the same experiment with the same settings. */
  static open(root: string, spec: ExperimentSpec, opts: ExperimentOptions = {}, mutable: string[] = []): Experiment {
    const file = path.join(root, EXPERIMENT_FILE);
    if (fs.existsSync(root) && !fs.statSync(root).isDirectory()) throw new RunError(`${root} is a file, not an experiment folder; choose another --out`);
    if (fs.existsSync(root)) takeFolder(root);
    if (fs.existsSync(file)) {
      const there = readSpec(root);
      if (there.experiment !== spec.experiment) throw new RunError(`${root} holds a ${there.experiment} experiment, not ${spec.experiment}; choose another --out`);
      const differ = diffKeys({ preset: there.preset, ...there.settings, ...there.options }, { preset: spec.preset, ...spec.settings, ...spec.options }, mutable);
      if (differ.length > 0) {
        throw new RunError(`${root} holds a ${spec.experiment} experiment with other settings (${differ.slice(0, 3).join('; ')}); rerun with its flags (${there.command}) or choose another --out`);
      }
      // Only mutable options can differ here; record the latest.
      if (diffKeys(there.options, spec.options).length > 0) writeSpec(file, { ...there, options: spec.options, command: spec.command });
      else return new Experiment(root, { ...spec, command: there.command }, opts);
      return new Experiment(root, spec, opts);
    }
    makeFolder(root);
    takeFolder(root);
    writeSpec(file, spec);
    return new Experiment(root, spec, opts);
  }

  runDir(name: string): string {
    return path.join(this.root, name);
  }

  /** A run's config from the experiment's settings and the run's own choices. */
  config(run: string, own: { rule?: RuleName; groups?: number; winsor?: number; noise?: number } & Partial<RunConfig>, data: RunData): RunConfig {
    const { rule = 'sgd', groups = 3, winsor = 0, noise = 0, ...rest } = own;
    return {
      ...this.spec.settings,
      experiment: this.spec.experiment,
      run,
      rule, groups, winsor, noise,
      evalSets: data.evalSets.map((e) => ({ name: e.name, count: e.split.n })),
      ...rest,
    };
  }

  /** Runs (or resumes, or reads back) one run of the grid. */
  async run(config: RunConfig, data: RunData): Promise<RunResult> {
    const dir = this.runDir(config.run);
    const label = `${this.spec.experiment}/${config.run}`;
    const t0 = performance.now();
    const hooks: RunHooks = {
      ...this.opts.hooks,
      onStart: (epoch) => {
        this.opts.hooks?.onStart?.(epoch);
        this.log(epoch > 0 ? `${label}: resuming after epoch ${epoch}` : `${label}: ${describe(config)}`);
      },
      onEpoch: (row, evals) => {
        this.opts.hooks?.onEpoch?.(row, evals);
        if (this.opts.verbose) this.log(`  ${label} epoch ${row.epoch}/${config.epochs}: ${brief(evals)} (${row.elapsed_s.toFixed(0)}s)`);
      },
    };
    let result: RunResult;
    try {
      result = await executeRun(dir, config, data, hooks);
    } finally {
      // A finished (or failed) run leaves no lock behind, so its folder is exactly what it wrote.
      releaseFolder(dir);
    }
    this.results.set(config.run, result);
    const s = result.summary;
    const last = lastEvals(result.rows);
    const took = result.skipped ? 'already done' : `${((performance.now() - t0) / 1000).toFixed(0)}s`;
    const how = s.status === 'stopped' ? `stopped at epoch ${s.epochs.toFixed(2)} (${s.stop!.set} ${pct(s.stop!.acc)})`
      : s.status === 'diverged' ? `diverged at step ${s.divergedAtStep}`
      : s.status === 'not-reached' ? `did not reach ${config.stopAt!.set} ${pct(config.stopAt!.acc)} in ${s.epochs} epochs`
      : `${s.epochs} epochs`;
    this.log(`${label}: ${how}; ${brief(last)}; ${took}`);
    return result;
  }
}

export function readSpec(root: string): ExperimentSpec {
  const file = path.join(root, EXPERIMENT_FILE);
  let spec: ExperimentSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(code === 'ENOENT' ? `${root} holds no ${EXPERIMENT_FILE}; give the folder of a cgh experiment or cgh reproduce` : `${file} is not valid JSON; restore it or run the experiment again in another --out`);
  }
  if (!spec || typeof spec !== 'object' || typeof spec.experiment !== 'string' || !spec.settings) throw new RunError(`${file} is not an experiment description; restore it or choose another folder`);
  return spec;
}

/** One process per experiment folder (its runs' folders are locked too); temporary files of killed ones are removed. */
function takeFolder(root: string): void {
  lockFolder(root, 'experiment folder');
  removeStaleTempFiles(root);
}

function writeSpec(file: string, spec: ExperimentSpec): void {
  writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n');
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>, ignored: string[] = []): string[] {
  const ignore = new Set(['evalBatchSize', 'dataDir', ...ignored]);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.has(k));
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k}: ${JSON.stringify(a[k]) ?? 'unset'} there, ${JSON.stringify(b[k]) ?? 'unset'} now`);
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

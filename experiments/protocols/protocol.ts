import type { RunConfig, RunData, RunResult, TrainSettings } from '../run/grid-run.js';
import type { ExperimentData } from '../run/experiment-data.js';
import type { LoadedExperiment } from '../report/data.js';
import type { Section } from '../report/html.js';
import type { ExperimentSpec } from './experiment-folder.js';
import type { PhaseEpochs, PresetName } from './presets.js';

/**
 * One experiment of the paper as one object: what the CLI shows (name, summary, its own flags with
 * their defaults), how its options are read and checked, its grid of runs as a declarative plan, its
 * report section and its part of cgh reproduce. protocols/index.ts lists them; adding an experiment is
 * one file here and one line there.
 */
export interface Protocol<O extends object = Record<string, unknown>> {
  readonly name: string;
  /** One line for cgh experiment --help. */
  readonly summary: string;
  /** Its own flags (the shape of cli/args.ts's FlagSpec), shown and parsed by cgh experiment. */
  readonly flags: readonly OptionFlag[];
  /** The options from the parsed flags (camelCase keys) and the preset's epoch budgets; one-line errors. */
  parseFlags(flags: Record<string, unknown>, budgets: PhaseEpochs): O;
  /** The flags that give `o` back (cgh reproduce records each part as a cgh experiment command). */
  toFlags(o: O): string[];
  /** Checks the options against the settings before anything is loaded or written; one-line errors. */
  validate(o: O, settings: TrainSettings): void;
  /** The protocol's own changes to a preset (momentum 0 for the median rules, batch 32, ...), before flags apply. */
  adjustPreset?(s: TrainSettings & PhaseEpochs, preset: PresetName): void;
  /** Options that may change between a first attempt and its rerun (the runs that use them check themselves). */
  readonly mutable?: readonly string[];
  /** The grid: every run by name with the runs it needs finished, in an order that respects them. */
  plan(spec: ExperimentSpec & { options: O }): PlannedRun[];
  /** The report section built from the folder's runs. */
  report(e: LoadedExperiment): Section;
  /** Its part of cgh reproduce, or several grids of it in their own folders (absent: not part of it). */
  readonly reproduce?: ReproducePart<O> | readonly ReproducePart<O>[];
}

/** A flag of an experiment's own options; the same fields as the CLI's FlagSpec, which the CLI reads directly. */
export interface OptionFlag {
  readonly name: string;
  readonly type: 'string' | 'int' | 'number' | 'boolean' | 'int-list';
  readonly help: string;
  readonly default?: string | number | boolean | readonly number[];
  readonly min?: number;
  readonly metavar?: string;
}

/**
 * One run of the grid, executable on its own given the experiment folder: its config and data are derived
 * from the experiment's spec and data and from the finished results of the runs it depends on.
 */
export interface PlannedRun {
  readonly name: string;
  readonly dependsOn: readonly string[];
  prepare(ctx: GridContext): Promise<{ config: RunConfig; data: RunData }>;
  /** Checks a finished run (a threshold reached); a one-line error when it falls short. Also run when a dependent reads it. */
  check?(result: RunResult): void;
  /** After the run has finished and passed its check: files derived from it (difficulty.safetensors). */
  finish?(ctx: GridContext): Promise<void>;
}

/** What a planned run sees of its experiment. */
export interface GridContext {
  readonly root: string;
  readonly spec: ExperimentSpec;
  readonly data: ExperimentData;
  /** A run's config: the experiment's settings with the run's own choices. */
  config(run: string, own: Partial<RunConfig>, data: RunData): RunConfig;
  /** The result of a finished run of this grid, read back from its folder (and checked as after it ran). */
  result(run: string): Promise<RunResult>;
  /** Whether a run of this grid has finished. */
  finished(run: string): boolean;
}

export interface ReproducePart<O> {
  /** Its subfolder of the reproduce folder and its report section's id (default: the experiment's name). */
  readonly folder?: string;
  /** Settings that differ from the preset's. */
  readonly settings: Partial<TrainSettings>;
  readonly options: O;
  /** What it runs, for cgh reproduce --help (continuation lines indented to the column). */
  readonly notes: string;
}

/** A protocol's parts of cgh reproduce as a list (empty: not part of it). */
export function reproducePartsOf<O extends object>(p: Protocol<O>): readonly ReproducePart<O>[] {
  if (!p.reproduce) return [];
  return Array.isArray(p.reproduce) ? p.reproduce : [p.reproduce as ReproducePart<O>];
}

export { ExperimentError } from '../run/grid-run.js';

/** The run data every training-set run shares: the training set and the test set. */
export function plainRunData(data: ExperimentData): RunData {
  return { train: data.train, numClasses: data.numClasses, inputShape: data.inputShape, evalSets: [{ name: 'test', split: data.test }] };
}

/** A run on the whole training set, evaluated on the test set: the experiment's settings with the run's own choices. */
export function trainingSetRun(name: string, own: Partial<RunConfig>, more: Partial<PlannedRun> = {}): PlannedRun {
  return {
    name,
    dependsOn: [],
    prepare: async (ctx) => {
      const data = plainRunData(ctx.data);
      return { config: ctx.config(name, own, data), data };
    },
    ...more,
  };
}

/** The name of a condition's run for the k-th of its seeds: the name itself for the first, `name-seedK` after it. */
export function seededName(name: string, k: number): string {
  return k === 0 ? name : `${name}-seed${k}`;
}

/** Runs of one condition on `seeds` seeds: seed settings.seed + k for the k-th (the label noise stays the data seed's). */
export function seededRuns(name: string, own: Partial<RunConfig>, seeds: number, s: { seed: number; dataSeed?: number }): PlannedRun[] {
  const dataSeed = s.dataSeed ?? s.seed;
  return Array.from({ length: seeds }, (_, k) => trainingSetRun(seededName(name, k), k === 0 ? own : { ...own, seed: s.seed + k, dataSeed }));
}

/** Builds a protocol with its option type checked (a plain object works too). */
export function defineProtocol<O extends object>(p: Protocol<O>): Protocol<O> {
  return p;
}

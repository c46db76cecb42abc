// `cgh experiment NAME`, `cgh reproduce` and `cgh report DIR`: the paper's experiments as grids of runs.
import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../engine/context.js';
import { modelNames } from '../models/registry.js';
import { SCHEDULES, validateSchedule, type ScheduleName } from '../experiments/run/schedule.js';
import { PRESET_HELP, PRESET_NAMES, needsDataDir, presetSettings, validatePreset, type PhaseEpochs } from '../experiments/protocols/presets.js';
import { RunInterrupted, type TrainSettings } from '../experiments/run/grid-run.js';
import { openGrid, runGrid, validateRequest, type ExperimentRequest } from '../experiments/protocols/grid.js';
import { maskPassword } from '../experiments/queue/redis-url.js';
import { findProtocol, protocolNames, PROTOCOLS } from '../experiments/protocols/index.js';
import type { Protocol } from '../experiments/protocols/protocol.js';
import { DEFAULT_SEEDS, openReproduce, reproduce, reproduceNotes, writeReproduceReport } from '../experiments/protocols/reproduce.js';
import { writeReport } from '../experiments/report/index.js';
import { isRunFolder, writeRunReport } from '../experiments/report/run-curves.js';
import { closest, helpText, parseArgs, UsageError, type CommandSpec, type FlagSpec } from './args.js';
import { packageVersion } from './train.js';
import { stopOnSignals, StoppedBySignal } from './stop-signals.js';
import { DISPATCH_FLAGS, dispatchOf } from './queue-dispatch.js';

const COMMON: FlagSpec[] = [
  { name: 'preset', type: 'string', default: 'mnist', metavar: PRESET_NAMES.join('|'), help: 'settings of the given scale (see below); the flags below '
    + 'override single ones' },
  { name: 'out', type: 'string', metavar: 'DIR', help: 'experiment folder (default: runs/<experiment>-<preset>); rerun the same command to resume' },
  { name: 'dataset', type: 'choice', choices: ['mnist', 'cifar10', 'idx', 'imagefolder'], help: 'dataset: the embedded MNIST, CIFAR-10 binary, any IDX '
    + 'folder or a folder made by cgh prepare (--data-dir)' },
  { name: 'data-dir', type: 'string', metavar: 'DIR', help: 'folder with the dataset\'s files' },
  { name: 'train-size', type: 'int', min: 1, metavar: 'N', help: 'train on the first N training examples' },
  { name: 'test-size', type: 'int', min: 1, metavar: 'N', help: 'evaluate on a seeded sample of N test examples' },
  { name: 'model', type: 'string', metavar: 'NAME', known: modelNames, help: 'model (see cgh models)' },
  { name: 'hidden', type: 'int-list', min: 1, help: 'hidden widths of the mlp' },
  { name: 'width', type: 'number', min: 0, exclusiveMin: true, help: 'width multiplier of the model' },
  { name: 'init', type: 'choice', choices: ['pytorch', 'glorot-cg'], help: 'weight initialisation' },
  { name: 'batch-size', type: 'int', min: 1, help: 'examples per step' },
  { name: 'eval-batch-size', type: 'int', min: 1, help: 'examples per evaluation pass' },
  { name: 'lr', type: 'number', min: 0, exclusiveMin: true, help: 'learning rate' },
  { name: 'schedule', type: 'choice', choices: SCHEDULES, help: 'lr schedule, stepped per epoch' },
  { name: 'step-size', type: 'int', min: 1, help: 'epochs between lr divisions of the step schedule' },
  { name: 'epochs', type: 'int', min: 1, help: 'epochs of the main trainings' },
  { name: 'momentum', type: 'number', min: 0, help: 'SGD momentum' },
  { name: 'weight-decay', type: 'number', min: 0, help: 'L2 weight decay' },
  { name: 'sample-size', type: 'int', min: 1, metavar: 'N', help: 'size of the pristine, corrupt and training samples (default: the paper\'s 50,000 of '
    + 'ImageNet scaled to the training set, at least 1,000)' },
  { name: 'dense-eval', type: 'boolean', help: 'evaluate at steps 0-9, 10-90, 100-900, ... as well as every epoch (default: on; --dense-eval=false for '
    + 'epochs only)' },
  { name: 'records', type: 'choice', choices: ['all', 'epochs', 'off'], help: 'per-example first/last-correct records over the whole training set: at every '
    + 'evaluation, at epoch ends only, or none' },
  { name: 'seed', type: 'int', min: 0, help: 'seed of initialisation and batch order' },
  { name: 'data-seed', type: 'int', min: 0, help: 'seed of the label noise and the evaluation samples' },
  { name: 'adapter', type: 'string', metavar: 'NAME', help: 'WebGPU adapter whose name contains NAME' },
  { name: 'quiet', type: 'boolean', help: 'one line per run instead of one per epoch' },
  ...DISPATCH_FLAGS,
];

export const PROTOCOL_NOTES = `Protocol (where the paper and the authors' code differ, the paper is followed):
  label noise   with probability p a label is replaced by one drawn uniformly from all classes; an example
                is corrupt only if its label changed (expected fraction p(1 - 1/K)); both labels are kept,
                test labels never change. The noise and the evaluation samples depend on --data-seed only,
                so every run of an experiment sees the same noisy labels.
  evaluation    loss and top-1 accuracy of the whole training set (when records are on), a training sample,
                up to N pristine and N corrupt training examples and the test set, before training, at steps
                1-9, 10-90, 100-900, ... and after every epoch; one metrics.jsonl row per set and point.
  records       per training example, the first and last evaluated step at which it was classified
                correctly (examples.safetensors); easy = correct when the threshold was first reached.
  m3            the paper's M3: one mini-batch split into 3 groups, median of the groups' mean gradients
                (the authors' code instead takes 3 consecutive full batches, one update per 3 batches).
  rm3, ra3      as the authors' code: ring of 3 batch gradients, no update until 3 exist, no momentum.
The experiment folder holds experiment.json, one folder per run (config.json, metrics.jsonl,
checkpoint.safetensors, examples.safetensors, summary.json) and report.html with CSV tables. Ctrl-C or
SIGTERM stops the current run after the step in flight with a checkpoint there (exit code 130 or 143; a
second Ctrl-C exits at once); the same command resumes it there.`;

function experimentSpec(p: Protocol<any>): CommandSpec {
  return { name: `experiment ${p.name}`, summary: p.summary, flags: [...COMMON, ...p.flags], notes: `${PRESET_HELP}\n\n${PROTOCOL_NOTES}` };
}

/** cgh experiment --help: every protocol of the index with its summary. */
export function experimentsHelp(): string {
  return ['usage: cgh experiment <name> [flags]', '', 'Runs one of the paper\'s experiments as a grid of training runs in one folder, then writes '
    + 'report.html there.', '',
    'experiments:', ...PROTOCOLS.map((p) => `  ${p.name.padEnd(18)}${p.summary}`), '', 'cgh experiment <name> --help shows its '
      + 'flags.', '', PRESET_HELP].join('\n');
}

const SETTING_FLAGS: (keyof TrainSettings)[] = ['dataset', 'dataDir', 'trainSize', 'testSize', 'model', 'hidden', 'width', 'init', 'batchSize',
  'evalBatchSize', 'lr', 'schedule', 'stepSize', 'epochs', 'momentum', 'weightDecay', 'sampleSize', 'denseEval', 'records', 'seed', 'dataSeed'];

export async function experimentCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') { console.log(experimentsHelp()); return; }
  const protocol = findProtocol(name);
  if (!protocol) {
    const guess = closest(name, protocolNames());
    throw new UsageError(`unknown experiment "${name}"${guess ? ` (did you mean ${guess}?)` : ''}; use one of ${protocolNames().join(', ')}`);
  }
  const spec = experimentSpec(protocol);
  const a = parseArgs(spec, rest) as Record<string, any>;
  if (a.help) { console.log(helpText(spec)); return; }
  const preset = withUsage(() => validatePreset(a.preset));
  const flags: Record<string, unknown> = {};
  for (const k of SETTING_FLAGS) if (k !== 'denseEval' && a[k] !== undefined) flags[k] = a[k];
  // --dense-eval is a boolean the parser defaults to false, so only an explicit one counts.
  if (rest.some((r) => r === '--dense-eval' || r.startsWith('--dense-eval='))) flags.denseEval = a.denseEval;
  const settings: TrainSettings & PhaseEpochs = presetSettings(preset, protocol.name, flags as Partial<TrainSettings>);
  if (needsDataDir(preset) && !settings.dataDir) {
    const format = preset === 'paper' ? 'ImageNet prepared with cgh prepare' : 'cifar-10-batches-bin';
    throw new UsageError(`--preset ${preset} needs --data-dir DIR with the dataset's files (${format})`);
  }
  withUsage(() => validateSchedule({ schedule: settings.schedule as ScheduleName, lr: settings.lr, epochs: settings.epochs, stepSize: settings.stepSize }));
  // Epochs last, where experiment.json has always had them.
  const { thresholdEpochs, antiEpochs, epochs, ...others } = settings;
  const train = { ...others, epochs };
  const options = withUsage(() => protocol.parseFlags(a, { epochs: settings.epochs, thresholdEpochs, antiEpochs }));
  const out = a.out ?? path.join('runs', `${protocol.name}-${preset}`);
  const command = ['cgh', 'experiment', ...argv].map((x) => quote(maskPassword(x))).join(' ');
  const request: ExperimentRequest = { preset, settings: train, options, command, version: packageVersion() };
  withUsage(() => validateRequest(protocol.name, request));
  const dispatch = dispatchOf(a);
  if (dispatch) {
    // The runs go to workers (the queue's, or local processes); this process only makes the folder and waits.
    await dispatch.check();
    await openGrid(protocol.name, out, request);
    await dispatch.run([out]);
    return;
  }
  await getGpu({ adapterName: a.adapter });
  const report = await stoppable((signal) => runGrid(protocol.name, out, request, { verbose: !a.quiet, signal }));
  console.error(`report: ${report}`);
}

/** Runs a grid that Ctrl-C or SIGTERM stops with a checkpoint in the current run, from which the same command resumes. */
async function stoppable(f: (signal: AbortSignal) => Promise<string>): Promise<string> {
  const signals = stopOnSignals('rerun the same command');
  try {
    return await f(signals.signal);
  } catch (e) {
    const code = signals.exitCode();
    if (code === null) throw e;
    const where = e instanceof RunInterrupted ? ` at epoch ${e.epoch} step ${e.step} of run ${e.run}` : '';
    throw new StoppedBySignal(`stopped${where}; rerun the same command to continue`, code);
  } finally {
    signals.dispose();
  }
}

function withUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const n = (e as Error).name;
    if (['NoiseError', 'PresetError', 'ScheduleError', 'ExperimentError'].includes(n)) throw new UsageError((e as Error).message);
    throw e;
  }
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const REPRODUCE_SPEC = {
  name: 'reproduce',
  summary: 'Runs a small-scale version of all of the paper\'s experiments on the embedded MNIST and writes one report.',
  flags: [
    { name: 'out', type: 'string', default: 'runs/reproduce', metavar: 'DIR', help: 'folder of the experiments and report.html; rerun the same command to '
      + 'resume' },
    { name: 'adapter', type: 'string', metavar: 'NAME', help: 'WebGPU adapter whose name contains NAME' },
    { name: 'verbose', type: 'boolean', help: 'one line per epoch as well as per run (without it, a run silent for 10 s says where it is '
      + 'at its next epoch end)' },
    { name: 'seeds', type: 'int', min: 1, default: DEFAULT_SEEDS, metavar: 'N', help: 'seeds of each label-noise and suppression condition; the '
      + 'verdicts compare means with a margin from the seeds\' spread' },
    { name: 'quick', type: 'boolean', help: 'a smoke test in a few minutes: one seed, a tenth of the epochs; its verdicts are marked "smoke test, not '
      + 'evidence". Use another --out than the full run\'s' },
    ...DISPATCH_FLAGS,
  ],
} as const;

export async function reproduceCommand(argv: string[]): Promise<void> {
  const a = parseArgs(REPRODUCE_SPEC, argv);
  if (a.help) { console.log(helpText({ ...REPRODUCE_SPEC, notes: reproduceNotes() })); return; }
  const command = ['cgh', 'reproduce', ...argv].map((x) => quote(maskPassword(x))).join(' ');
  const dispatch = dispatchOf(a as { queue?: string; detach?: boolean; workers?: number });
  if (dispatch) {
    await dispatch.check();
    const t0 = performance.now();
    const parts = await openReproduce(a.out, { command, version: packageVersion(), seeds: a.seeds, quick: a.quick === true });
    if (!(await dispatch.run(parts.map((p) => p.folder)))) { console.error(`when the grids are done: cgh report ${a.out}`); return; }
    const where = (a as { queue?: string }).queue ? `the queue's workers (cgh worker)` : 'local worker processes';
    const info = { where, adapter: where, seconds: (performance.now() - t0) / 1000, timings: [] };
    console.error(`report: ${writeReproduceReport(a.out, { command, version: packageVersion(), seeds: a.seeds, quick: a.quick === true }, info)}`);
    return;
  }
  await getGpu({ adapterName: a.adapter });
  const report = await stoppable((signal) => reproduce(a.out, { command, version: packageVersion(), verbose: a.verbose, seeds: a.seeds,
    quick: a.quick === true, signal }));
  console.error(`report: ${report}`);
}

const REPORT_SPEC = {
  name: 'report',
  summary: 'Writes report.html (figures, the paper\'s predictions and whether the runs agree, tables, commands, configs) and CSV tables for an experiment '
    + 'folder or a cgh reproduce folder; for a single run folder (cgh train\'s, or one run of an experiment), its curves: loss, accuracy, lr and '
    + 'examples/s.',
  flags: [],
} as const;

export async function reportCommand(argv: string[]): Promise<void> {
  const dirs = argv.filter((x) => !x.startsWith('--'));
  const a = parseArgs(REPORT_SPEC, argv.filter((x) => x.startsWith('--')));
  if (a.help) { console.log(`${helpText(REPORT_SPEC).replace('[flags]', 'DIR')}`); return; }
  if (dirs.length !== 1) throw new UsageError(`cgh report takes one folder, got ${dirs.length}; e.g. cgh report runs/reproduce`);
  const dir = dirs[0];
  // A folder holding one run's config and metrics is a run; anything else is read as experiments.
  console.log(isRunFolder(dir) ? writeRunReport(dir) : writeReport(dir));
}

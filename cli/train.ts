// `cgh train`: one training run into a run folder (config.json, metrics.jsonl, checkpoint.safetensors).
import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../engine/context.js';
import { DataError } from '../engine/data/dataset.js';
import { loadDataset } from '../engine/data/node-data.js';
import { notARegularFile } from '../engine/data/file-kind.js';
import { parameterCount } from '../models/model.js';
import { loadWeights, WeightsError } from '../models/weights.js';
import { createCoherenceProbe, ruleWarnings, validateRuleOptions, RULE_HELP, RuleError, type RuleOptions } from '../experiments/rules/index.js';
import { RunFolder } from '../experiments/run/run-folder.js';
import { validateSchedule, type ScheduleName } from '../experiments/run/schedule.js';
import { checkRunSettings, DATASET_SIZES, SettingsError, settingsWarnings } from '../experiments/run/settings-check.js';
import { noiseSubsets } from '../experiments/run/label-noise.js';
import { MODEL_FLAGS, SEED_FLAGS, TRAINING_FLAGS } from '../experiments/run/settings-flags.js';
import { firstExamples, NOT_MODEL_STATE, setupRun } from '../experiments/run/setup.js';
import { trainLoop } from '../experiments/run/loop.js';
import { resumePoint } from '../experiments/run/epoch-position.js';
import { runFingerprint } from '../experiments/run/fingerprint.js';
import { TrainingError, type EvaluatedEpochRow as EpochRow } from '../experiments/run/rows.js';
import { helpText, parseArgs, UsageError, type Parsed } from './args.js';
import { Progress } from './progress.js';
import { stopOnSignals, StoppedBySignal } from './stop-signals.js';
import { fixed, percent, plural, TableStream } from './table.js';
import { packageVersion } from './version.js';

export { packageVersion };

export const TRAIN_SPEC = {
  name: 'train',
  summary: 'Train a model with SGD (or a gradient rule) and record every epoch in a run folder.',
  flags: [
    ...MODEL_FLAGS,
    {
      name: 'dataset', type: 'choice', choices: ['mnist', 'cifar10', 'imagefolder'], default: 'mnist',
      help: 'dataset (MNIST is embedded; CIFAR-10 needs --data-dir; imagefolder: a folder made by cgh prepare, e.g. ImageNet)',
    },
    { name: 'data-dir', type: 'string', metavar: 'DIR', help: 'folder with the dataset\'s files (MNIST: the four IDX files, raw or .gz)' },
    ...TRAINING_FLAGS,
    { name: 'log-coherence', type: 'boolean', help: 'also record the m-coherence of the batch (||sum g_i||^2 / sum ||g_i||^2 over per-example gradients) at '
      + 'each logged step and at the end of each epoch' },
    { name: 'weights', type: 'string', metavar: 'FILE', help: 'start from the weights in a safetensors file of a PyTorch state_dict, by name '
      + '(torchvision\'s, or a cgh checkpoint); --resume from a checkpoint takes precedence' },
    ...SEED_FLAGS,
    { name: 'out', type: 'string', metavar: 'DIR', help: 'run folder (default: runs/<model>-<dataset>-<date-time>)' },
    { name: 'resume', type: 'boolean', help: 'continue the run in --out from its last checkpoint; with a larger --epochs, extend a finished run' },
    { name: 'adapter', type: 'string', metavar: 'NAME', help: 'use the WebGPU adapter whose name contains NAME (see cgh adapters)' },
    { name: 'log-every', type: 'int', min: 0, default: 0, metavar: 'STEPS', help: 'also write the training loss every STEPS steps to metrics.jsonl (0: per '
      + 'epoch only)' },
    { name: 'diverge-factor', type: 'number', min: 0, default: 100, metavar: 'K', help: 'stop, naming the step, when the training loss stays above K times '
      + 'the first step\'s loss for --diverge-points logging points in a row (step rows and epoch ends); 0 turns this off for deliberately noisy runs' },
    { name: 'diverge-points', type: 'int', min: 1, default: 3, metavar: 'N', help: 'logging points in a row above the limit that count as diverged' },
  ],
  notes: `The run folder holds config.json (every setting, the adapter, the package version), metrics.jsonl
(one JSON row per epoch, appended and flushed as it comes) and checkpoint.safetensors (written after
every epoch). Ctrl-C or SIGTERM stops the run after the step in flight with a checkpoint there (exit code 130
or 143; a second Ctrl-C exits at once, keeping the previous checkpoint). A stopped or killed run continues with
the same flags plus --resume, bit-identically. A finished run continues to more epochs with --resume --epochs N,
keeping the weights and the optimizer state; the lr schedule is then the one for N epochs (for cosine: from here
on). With --label-noise P the "train" columns are measured on the noisy labels the model trains on; pristine and
corrupt are the training examples whose labels were kept and changed (corrupt against the changed labels).`,
} as const;

export type TrainArgs = Parsed<typeof TRAIN_SPEC>;

export function trainHelp(): string {
  return `${helpText(TRAIN_SPEC)}\n\n${RULE_HELP.trimEnd()}`;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const a = parseArgs(TRAIN_SPEC, argv);
  if (a.help) { console.log(trainHelp()); return; }
  await runTraining(a);
}

export interface TrainHooks {
  /** Print nothing (tests). */
  quiet?: boolean;
  /** Stop after this many epochs, checkpointed, as if the process were killed (tests). */
  stopAfterEpoch?: number;
  /** Stops the run at the next step boundary, checkpointed there (default: SIGINT and SIGTERM). */
  signal?: AbortSignal;
}

export interface TrainOutcome { run: RunFolder; rows: EpochRow[]; completed: boolean }

/** One training run as `cgh train` does it, from parsed flags. */
export async function runTraining(a: TrainArgs, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  return train(a, hooks);
}

async function train(a: TrainArgs, hooks: TrainHooks): Promise<TrainOutcome> {
  const say = hooks.quiet ? () => {} : (line: string) => console.log(line);
  if (a.resume && a.out === undefined) throw new UsageError('--resume needs --out DIR, the run folder to continue (see cgh train --help)');
  if (a.resume && !fs.existsSync(path.join(a.out!, 'config.json'))) {
    throw new UsageError(`--resume: ${a.out} holds no run (no config.json there); check the folder name, or leave out --resume to start a new run`);
  }
  validateSchedule({ schedule: a.schedule as ScheduleName, lr: a.lr, epochs: a.epochs, stepSize: a.stepSize });
  const rule = checkRule(a);
  try {
    checkRunSettings({ ...a, noise: a.labelNoise }, a.dataDir === undefined ? DATASET_SIZES[a.dataset] : undefined);
    // On stdout with the run's other notes: stderr carries only the one line of an error.
    for (const w of settingsWarnings(a)) say(`warning: ${w}`);
  } catch (e) {
    if (e instanceof SettingsError) throw new UsageError(`${e.message} (see cgh train --help)`);
    throw e;
  }

  // Everything that can fail on bad input is checked before the run folder is touched.
  const ds = await loadDataset({ dataset: a.dataset, dataDir: a.dataDir });
  if (a.trainSubset !== undefined && a.trainSubset > ds.train.n) {
    throw new DataError(`--train-subset ${a.trainSubset} is larger than the ${ds.train.n} training examples; use ${ds.train.n} or less`);
  }
  if (a.testSubset !== undefined && a.testSubset > ds.test.n) {
    throw new DataError(`--test-subset ${a.testSubset} is larger than the ${ds.test.n} test examples; use ${ds.test.n} or less`);
  }
  const trainN = a.trainSubset ?? ds.train.n;
  if (a.batchSize > trainN) throw new DataError(`batch size ${a.batchSize} is larger than the ${trainN} training examples; use --batch-size ${trainN} or less`);
  const gpu = await getGpu({ adapterName: a.adapter });
  const examples = firstExamples(ds, a.trainSubset, a.testSubset);
  const { test } = examples;
  const { train, model, trainer, batches, batchRng, stepsPerUpdate, noisy } = setupRun(gpu, examples, { ...a, noise: a.labelNoise, winsor: rule.winsor });
  for (const w of ruleWarnings(rule)) console.error(`cgh: warning: ${w}`);
  if (a.weights !== undefined) loadWeights(gpu, model, readWeightsFile(a.weights), a.weights, NOT_MODEL_STATE);

  const { help: _h, out: _o, resume: _r, labelNoise, ...settings } = a;
  const config = {
    command: 'train',
    ...settings,
    // Absent without noise, so that folders written before the flag existed still resume.
    ...(labelNoise > 0 ? { labelNoise } : {}),
    trainExamples: train.n,
    testExamples: test.n,
    parameters: parameterCount(model),
    adapterReport: gpu.report,
    version: packageVersion(),
  };
  const out = a.out ?? `runs/${a.model}-${a.dataset}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
  // Settings that may change when a run is resumed: they change how it is watched, not what it computes. The
  // epoch count may grow on a resume (--resume --epochs N), so the fingerprint that ties a checkpoint to its run leaves it out.
  const watchKeys = ['adapter', 'adapterReport', 'version', 'logEvery', 'evalBatchSize', 'divergeFactor', 'divergePoints'];
  const ignoreKeys = [...watchKeys, ...(a.resume ? ['epochs'] : [])];
  const fingerprint = runFingerprint(config, [...watchKeys, 'epochs'], [examples.train, examples.test]);
  const run = RunFolder.open(out, config, { resume: a.resume, ignoreKeys, fingerprint });
  const finishedEpochs = run.readMetrics().filter((r) => r.kind === 'epoch').length;
  if (a.resume && run.config.epochs !== a.epochs) {
    if (a.epochs < finishedEpochs) {
      throw new UsageError(`--epochs ${a.epochs} is fewer than the ${finishedEpochs} epochs ${out} has finished; give --epochs ${finishedEpochs} or more`);
    }
    say(`${run.isDone() ? 'extending' : 'continuing'} ${out} to ${plural(a.epochs, 'epoch')} (it was set up for ${run.config.epochs})`);
    run.setEpochs(a.epochs);
  }
  if (a.resume && run.isDone()) {
    say(`${out} is already complete; its metrics are in ${run.metricsFile}`);
    return { run, rows: run.readMetrics().filter((r) => r.kind === 'epoch') as unknown as EpochRow[], completed: true };
  }

  say(`adapter: ${gpu.report.name} (${gpu.report.backend}); ${model.name} with ${parameterCount(model)} parameters; ${train.n} training and ${test.n} test `
    + `examples; run folder ${out}`);
  const table = new TableStream([
    { key: 'epoch', title: 'epoch', width: 5 },
    { key: 'lr', title: 'lr', width: 8, format: (v) => String(Number((v as number).toPrecision(4))) },
    { key: 'train_loss', title: 'train loss', format: fixed(4) },
    { key: 'train_acc', title: 'train acc', format: percent },
    { key: 'test_loss', title: 'test loss', format: fixed(4) },
    { key: 'test_acc', title: 'test acc', format: percent },
    { key: 'test_top5', title: 'test top-5', format: percent },
    ...(labelNoise > 0 ? [{ key: 'pristine_acc', title: 'pristine acc', format: percent }, { key: 'corrupt_acc', title: 'corrupt acc', format: percent }] : []),
    { key: 'examples_per_s', title: 'ex/s', width: 6, format: fixed(0) },
    { key: 'elapsed_s', title: 'elapsed', width: 8, format: (v) => `${(v as number).toFixed(0)}s` },
  ], (line) => { if (!hooks.quiet) console.log(line); });
  const subsets = labelNoise > 0 ? noiseSubsets(noisy) : undefined;
  const progress = new Progress({ rateUnit: 'ex/s', quiet: hooks.quiet });
  let lastPeek = 0;
  // The end-of-epoch evaluation (the whole training split: long on ImageNet) has a bar of its own.
  const evaluation = new Progress({ rateUnit: 'ex/s', quiet: hooks.quiet });
  let evaluating = -1;
  const show = (row: EpochRow) => { progress.clear(); evaluation.clear(); table.row({ ...row }); };
  let barEpoch = -1;
  let runningLoss: number | undefined;
  const signals = hooks.signal ? null : stopOnSignals('rerun the same command with --resume');
  const result = await trainLoop({
    gpu, trainer, batches, rng: batchRng, store: run,
    epochs: a.epochs,
    schedule: { schedule: a.schedule as ScheduleName, lr: a.lr, epochs: a.epochs, stepSize: a.stepSize },
    epochSets: { train, test, subsets },
    logEvery: a.logEvery,
    stepsPerUpdate,
    probe: a.logCoherence ? createCoherenceProbe(trainer) : undefined,
    divergence: a.divergeFactor > 0 ? { factor: a.divergeFactor, points: a.divergePoints } : undefined,
    hooks: {
      onStart: (epoch, step, inside) => {
        if (step > 0) {
          say(`resuming ${out} ${resumePoint(epoch, step, inside)}`);
          for (const r of run.readMetrics()) if (r.kind === 'epoch') table.row(r);
        }
      },
      onProgress: (p) => {
        if (p.phase === 'evaluating') {
          if (p.examplesTotal === 0) return;
          if (evaluating !== p.epoch) {
            evaluating = p.epoch;
            progress.clear();
            evaluation.begin(`evaluating epoch ${p.epoch + 1}`, p.examplesTotal);
          }
          evaluation.update(p.examplesDone);
          return;
        }
        const total = p.examplesTotal;
        if (p.epoch !== barEpoch) {
          barEpoch = p.epoch;
          progress.begin(`epoch ${p.epoch + 1}/${a.epochs}`, total, { done: p.epoch * total, total: a.epochs * total });
        }
        if (p.examplesDone < total) progress.update(p.examplesDone, { loss: runningLoss });
      },
      onRow: (row) => { if (row.kind === 'step') runningLoss = row.loss as number; },
      // The running loss for the bar: read where the loop already waits for the GPU, at most once a second.
      onSync: async () => {
        if (hooks.quiet || performance.now() - lastPeek < 1000) return;
        lastPeek = performance.now();
        const m = await trainer.peekMetrics();
        if (m.examples > 0 && m.nonFiniteStep === null) runningLoss = m.loss;
      },
      onEpoch: show,
      stopAfterEpoch: hooks.stopAfterEpoch,
      signal: hooks.signal ?? signals!.signal,
    },
  }).finally(() => signals?.dispose());
  progress.close();
  evaluation.close();
  if (result.diverged?.loss !== undefined) {
    const { step, lr, loss, initialLoss, since, points } = result.diverged;
    throw new TrainingError(`the training loss diverged: ${loss.toPrecision(3)} at step ${step} has stayed above ${a.divergeFactor} times the first `
      + `step's ${initialLoss!.toPrecision(3)} for ${points} logging points (since step ${since}); lower the learning rate (e.g. --lr `
      + `${+(lr / 10).toPrecision(3)}) and start again with another --out, or allow it with --diverge-factor 0`);
  }
  if (result.status === 'interrupted') {
    const where = `stopped at epoch ${result.epoch + 1} step ${result.step}; rerun the same command with --resume to continue`;
    if (signals) throw new StoppedBySignal(where, signals.exitCode()!);
    return { run, rows: run.readMetrics().filter((r) => r.kind === 'epoch') as unknown as EpochRow[], completed: false };
  }
  if (result.diverged) {
    const { step, epoch, lr } = result.diverged;
    const lower = +(lr / 10).toPrecision(3);
    throw new TrainingError(`the training loss became NaN or infinite at step ${step} (epoch ${epoch + 1}, learning rate ${lr}); `
      + `lower the learning rate (e.g. --lr ${lower}) and start again with another --out`);
  }
  const rows = run.readMetrics().filter((r) => r.kind === 'epoch') as unknown as EpochRow[];
  const last = rows[rows.length - 1];
  const completed = result.status === 'completed';
  if (completed) run.markDone({ epochs: a.epochs, steps: result.step, elapsed_s: result.elapsed_s, final: last ?? null });
  if (last && completed) say(`done: test accuracy ${(last.test_acc * 100).toFixed(2)}% after ${plural(last.epoch, 'epoch')}; metrics in ${run.metricsFile}`);
  return { run, rows, completed };
}

function readWeightsFile(file: string): Uint8Array {
  const problem = notARegularFile(file, 'give --weights a safetensors file');
  if (problem) throw new WeightsError(`--weights ${problem}`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WeightsError(code === 'ENOENT' ? `--weights ${file}: no such file` : `--weights ${file}: cannot read it (${code ?? (e as Error).message})`);
  }
}

/** The rule's options, checked as usage (a bad combination of flags is exit code 2). */
function checkRule(a: TrainArgs): RuleOptions {
  if (a.rule === 'winsorize' && a.winsor === undefined) throw new UsageError('--rule winsorize needs --winsor S, the examples clipped on each side (see cgh '
    + 'train --help)');
  const o: RuleOptions = { rule: a.rule, groups: a.groups, winsor: a.winsor ?? 0, m3Mode: a.m3Mode, batchSize: a.batchSize, momentum: a.momentum };
  try {
    validateRuleOptions(o);
  } catch (e) {
    if (e instanceof RuleError) throw new UsageError(`${e.message} (see cgh train --help)`);
    throw e;
  }
  return o;
}


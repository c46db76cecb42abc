// `cgh train`: one training run into a run folder (config.json, metrics.jsonl, checkpoint.safetensors).
import fs from 'node:fs';
import { getGpu } from '../engine/context.js';
import { DataError } from '../engine/data/dataset.js';
import { loadDataset } from '../engine/data/node-data.js';
import { notARegularFile } from '../engine/data/file-kind.js';
import { parameterCount } from '../models/model.js';
import { modelNames } from '../models/registry.js';
import { loadWeights, WeightsError } from '../models/weights.js';
import { createCoherenceProbe, ruleWarnings, validateRuleOptions, RULE_HELP, RULE_NAMES, RuleError, type RuleOptions } from '../experiments/rules/index.js';
import { RunFolder } from '../experiments/run-folder.js';
import { SCHEDULES, validateSchedule, type ScheduleName } from '../experiments/schedule.js';
import { setupRun } from '../experiments/setup.js';
import { trainLoop } from '../experiments/train-loop.js';
import type { EpochRow } from '../experiments/epoch.js';
import { helpText, parseArgs, UsageError, type Parsed } from './args.js';
import { Progress } from './progress.js';
import { fixed, percent, plural, TableStream } from './table.js';
import { packageVersion } from './version.js';

export { packageVersion };

export const TRAIN_SPEC = {
  name: 'train',
  summary: 'Train a model with SGD (or a gradient rule) and record every epoch in a run folder.',
  flags: [
    { name: 'model', type: 'string', default: 'mlp', metavar: 'NAME', known: modelNames, help: 'model to train; cgh models lists them' },
    { name: 'hidden', type: 'int-list', default: [1024, 1024], min: 1, help: 'hidden layer widths of the mlp' },
    { name: 'width', type: 'number', min: 0, exclusiveMin: true, default: 1, metavar: 'W', help: 'width multiplier of the model\'s channels (and of the mlp\'s hidden widths)' },
    { name: 'init', type: 'choice', choices: ['pytorch', 'glorot-cg'], default: 'pytorch', help: 'weight init: PyTorch\'s nn.Linear default, or N(0,1)*2/sqrt(fan_in+fan_out) with zero biases as in the original Coherent Gradients code' },
    { name: 'dataset', type: 'choice', choices: ['mnist', 'cifar10'], default: 'mnist', help: 'dataset (MNIST is embedded; CIFAR-10 needs --data-dir)' },
    { name: 'data-dir', type: 'string', metavar: 'DIR', help: 'folder with the dataset\'s files (MNIST: the four IDX files, raw or .gz)' },
    { name: 'train-subset', type: 'int', min: 1, metavar: 'N', help: 'train on the first N training examples only (default: all)' },
    { name: 'test-subset', type: 'int', min: 1, metavar: 'N', help: 'evaluate on the first N test examples only (default: all)' },
    { name: 'epochs', type: 'int', min: 1, default: 10, help: 'epochs to train' },
    { name: 'batch-size', type: 'int', min: 1, default: 128, help: 'examples per step (the last partial batch of an epoch is dropped)' },
    { name: 'eval-batch-size', type: 'int', min: 1, default: 1000, help: 'examples per evaluation pass' },
    { name: 'lr', type: 'number', min: 0, exclusiveMin: true, default: 0.1, help: 'learning rate (the schedule\'s initial value)' },
    { name: 'schedule', type: 'choice', choices: SCHEDULES, default: 'constant', help: 'lr schedule, stepped per epoch: constant; step = divide by 10 every --step-size epochs (StepLR); cosine = CosineAnnealingLR over --epochs' },
    { name: 'step-size', type: 'int', min: 1, default: 30, help: 'epochs between lr divisions of the step schedule' },
    { name: 'momentum', type: 'number', min: 0, default: 0, help: 'SGD momentum (PyTorch\'s form, no dampening)' },
    { name: 'weight-decay', type: 'number', min: 0, default: 0, help: 'L2 weight decay added to the gradient' },
    { name: 'rule', type: 'choice', choices: RULE_NAMES, default: 'sgd', help: 'gradient rule applied between backward and update (see below)' },
    { name: 'groups', type: 'int', min: 1, default: 3, metavar: 'K', help: 'groups K of --rule m3: the median of K group-mean gradients (K must divide the batch)' },
    { name: 'winsor', type: 'int', min: 0, metavar: 'S', help: 'examples clipped on each side of every coordinate by --rule winsorize (required with it)' },
    { name: 'm3-mode', type: 'choice', choices: ['one-pass', 'serial'], default: 'one-pass', help: 'how --rule m3 computes its micro-batch gradients' },
    { name: 'log-coherence', type: 'boolean', help: 'also record the m-coherence of the batch (||sum g_i||^2 / sum ||g_i||^2 over per-example gradients) at each logged step and at the end of each epoch' },
    { name: 'weights', type: 'string', metavar: 'FILE', help: 'start from the weights in a safetensors file of a PyTorch state_dict, by name (torchvision\'s, or a cgh checkpoint); --resume from a checkpoint takes precedence' },
    { name: 'seed', type: 'int', min: 0, default: 0, help: 'seed of all randomness (init, batch order)' },
    { name: 'out', type: 'string', metavar: 'DIR', help: 'run folder (default: runs/<model>-<dataset>-<date-time>)' },
    { name: 'resume', type: 'boolean', help: 'continue the run in --out from its last checkpoint' },
    { name: 'adapter', type: 'string', metavar: 'NAME', help: 'use the WebGPU adapter whose name contains NAME (see cgh adapters)' },
    { name: 'log-every', type: 'int', min: 0, default: 0, metavar: 'STEPS', help: 'also write the training loss every STEPS steps to metrics.jsonl (0: per epoch only)' },
  ],
  notes: `The run folder holds config.json (every setting, the adapter, the package version), metrics.jsonl
(one JSON row per epoch, appended and flushed as it comes) and checkpoint.safetensors (written after
every epoch). A killed run continues with the same flags plus --resume, bit-identically.`,
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
}

export interface TrainOutcome { run: RunFolder; rows: EpochRow[]; completed: boolean }

/** One training run as `cgh train` does it, from parsed flags. */
export async function runTraining(a: TrainArgs, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const say = hooks.quiet ? () => {} : (line: string) => console.log(line);
  if (a.resume && a.out === undefined) throw new UsageError('--resume needs --out DIR, the run folder to continue (see cgh train --help)');
  validateSchedule({ schedule: a.schedule as ScheduleName, lr: a.lr, epochs: a.epochs, stepSize: a.stepSize });
  const rule = checkRule(a);

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
  const { train, test, model, trainer, batches, batchRng, stepsPerUpdate } = setupRun(gpu, ds, { ...a, winsor: rule.winsor });
  for (const w of ruleWarnings(rule)) console.error(`cgh: warning: ${w}`);
  if (a.weights !== undefined) loadWeights(gpu, model, readWeightsFile(a.weights), a.weights);

  const { help: _h, out: _o, resume: _r, ...settings } = a;
  const config = {
    command: 'train',
    ...settings,
    trainExamples: train.n,
    testExamples: test.n,
    parameters: parameterCount(model),
    adapterReport: gpu.report,
    version: packageVersion(),
  };
  const out = a.out ?? `runs/${a.model}-${a.dataset}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
  const run = RunFolder.open(out, config, { resume: a.resume, ignoreKeys: ['adapter', 'adapterReport', 'version', 'logEvery', 'evalBatchSize'] });
  if (a.resume && run.isDone()) {
    say(`${out} is already complete; its metrics are in ${run.metricsFile}`);
    return { run, rows: run.readMetrics().filter((r) => r.kind === 'epoch') as unknown as EpochRow[], completed: true };
  }

  say(`adapter: ${gpu.report.name} (${gpu.report.backend}); ${model.name} with ${parameterCount(model)} parameters; ${train.n} training and ${test.n} test examples; run folder ${out}`);
  const table = new TableStream([
    { key: 'epoch', title: 'epoch', width: 5 },
    { key: 'lr', title: 'lr', width: 8, format: (v) => String(Number((v as number).toPrecision(4))) },
    { key: 'train_loss', title: 'train loss', format: fixed(4) },
    { key: 'train_acc', title: 'train acc', format: percent },
    { key: 'test_loss', title: 'test loss', format: fixed(4) },
    { key: 'test_acc', title: 'test acc', format: percent },
    { key: 'examples_per_s', title: 'ex/s', width: 6, format: fixed(0) },
    { key: 'elapsed_s', title: 'elapsed', width: 8, format: (v) => `${(v as number).toFixed(0)}s` },
  ], (line) => { if (!hooks.quiet) console.log(line); });
  const progress = new Progress({ rateUnit: 'ex/s', quiet: hooks.quiet });
  const show = (row: EpochRow) => { progress.clear(); table.row({ ...row }); };
  let barEpoch = -1;
  let runningLoss: number | undefined;
  const result = await trainLoop({
    gpu, trainer, batches, rng: batchRng, test, run,
    epochs: a.epochs,
    schedule: { schedule: a.schedule as ScheduleName, lr: a.lr, epochs: a.epochs, stepSize: a.stepSize },
    logEvery: a.logEvery,
    stepsPerUpdate,
    probe: a.logCoherence ? createCoherenceProbe(trainer) : undefined,
    onStart: (epoch) => {
      if (epoch > 0) {
        say(`resuming ${out} after epoch ${epoch}`);
        for (const r of run.readMetrics()) if (r.kind === 'epoch') table.row(r);
      }
    },
    onProgress: (epoch, done, total) => {
      if (epoch !== barEpoch) { barEpoch = epoch; progress.begin(`epoch ${epoch + 1}/${a.epochs}`, total, { done: epoch * total, total: a.epochs * total }); }
      if (done < total) progress.update(done, { loss: runningLoss });
    },
    onStep: (row) => { runningLoss = row.loss; },
    onEpoch: show,
    stopAfterEpoch: hooks.stopAfterEpoch,
  });
  progress.close();
  const last = result.rows[result.rows.length - 1];
  if (last && result.completed) say(`done: test accuracy ${(last.test_acc * 100).toFixed(2)}% after ${plural(last.epoch, 'epoch')}; metrics in ${run.metricsFile}`);
  return { run, rows: result.rows, completed: result.completed };
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
  if (a.rule === 'winsorize' && a.winsor === undefined) throw new UsageError('--rule winsorize needs --winsor S, the examples clipped on each side (see cgh train --help)');
  const o: RuleOptions = { rule: a.rule, groups: a.groups, winsor: a.winsor ?? 0, m3Mode: a.m3Mode, batchSize: a.batchSize, momentum: a.momentum };
  try {
    validateRuleOptions(o);
  } catch (e) {
    if (e instanceof RuleError) throw new UsageError(`${e.message} (see cgh train --help)`);
    throw e;
  }
  return o;
}

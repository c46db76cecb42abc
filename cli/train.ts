// `cgh train`: one training run into a run folder (config.json, metrics.jsonl, checkpoint.safetensors).
import { readFileSync } from 'node:fs';
import { getGpu } from '../engine/context.js';
import { Rng } from '../engine/random.js';
import { Trainer } from '../engine/trainer.js';
import { BatchIterator, DataError, subset } from '../engine/data/dataset.js';
import { loadDataset } from '../engine/data/node-data.js';
import type { GradientTransform } from '../engine/optim.js';
import { Mlp } from '../models/mlp.js';
import { parameterCount, type Model } from '../models/model.js';
import { RunFolder } from '../experiments/run-folder.js';
import { SCHEDULES, validateSchedule, type ScheduleName } from '../experiments/schedule.js';
import { trainLoop, type CoherenceProbe, type EpochRow } from '../experiments/train-loop.js';
import { helpText, parseArgs, UsageError, type Parsed } from './args.js';
import { importOptional } from './optional.js';
import { Progress } from './progress.js';
import { fixed, percent, TableStream } from './table.js';

export const TRAIN_SPEC = {
  name: 'train',
  summary: 'Train a model with SGD (or a gradient rule) and record every epoch in a run folder.',
  flags: [
    { name: 'model', type: 'string', default: 'mlp', metavar: 'NAME', help: 'model to train; cgh models lists them' },
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
    { name: 'rule', type: 'string', default: 'sgd', metavar: 'sgd|ra3|rm3|m3|winsorize', help: 'gradient rule applied between backward and update (see below)' },
    { name: 'groups', type: 'int', min: 1, default: 3, metavar: 'K', help: 'groups K of --rule m3: the median of K group-mean gradients (K must divide the batch)' },
    { name: 'winsor', type: 'int', min: 0, metavar: 'S', help: 'examples clipped on each side of every coordinate by --rule winsorize (required with it)' },
    { name: 'm3-mode', type: 'choice', choices: ['one-pass', 'serial'], default: 'one-pass', help: 'how --rule m3 computes its micro-batch gradients' },
    { name: 'log-coherence', type: 'boolean', help: 'also record the m-coherence of the batch (||sum g_i||^2 / sum ||g_i||^2 over per-example gradients) at each logged step and at the end of each epoch' },
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

/** What experiments/rules/index.ts provides (loaded when present). */
interface RulesModule {
  validateRuleOptions(o: RuleOptions): void;
  createRule(o: RuleOptions): GradientTransform;
  ruleWarnings(o: RuleOptions): string[];
  trainerBatchSize(o: RuleOptions): number;
  stepsPerUpdate(o: RuleOptions): number;
  createCoherenceProbe(trainer: Trainer): CoherenceProbe;
  RULE_HELP: string;
  RuleError: new (...a: any[]) => Error;
}
interface RuleOptions { rule: string; groups: number; winsor: number; m3Mode: string; batchSize: number; momentum: number }

/** What models/registry.ts provides (loaded when present). */
interface RegistryModule {
  createModel(name: string, o: { inputShape?: number[]; numClasses?: number; width?: number; hidden?: number[]; init?: string; rng: Rng }): Model;
}

export function packageVersion(): string {
  return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
}

export async function trainHelp(): Promise<string> {
  const rules = await importOptional<RulesModule>('../experiments/rules/index.js');
  const ruleText = rules ? rules.RULE_HELP : 'gradient rules: this build has sgd only (the ra3/rm3/m3/winsorize rules are not available yet).';
  return `${helpText(TRAIN_SPEC)}\n\n${ruleText.trimEnd()}`;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const a = parseArgs(TRAIN_SPEC, argv);
  if (a.help) { console.log(await trainHelp()); return; }
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
  const rule = await buildRule(a, say);

  // Everything that can fail on bad input is checked before the run folder is touched.
  const ds = await loadDataset({ dataset: a.dataset, dataDir: a.dataDir });
  if (a.trainSubset !== undefined && a.trainSubset > ds.train.n) {
    throw new DataError(`--train-subset ${a.trainSubset} is larger than the ${ds.train.n} training examples; use ${ds.train.n} or less`);
  }
  if (a.testSubset !== undefined && a.testSubset > ds.test.n) {
    throw new DataError(`--test-subset ${a.testSubset} is larger than the ${ds.test.n} test examples; use ${ds.test.n} or less`);
  }
  const train = a.trainSubset !== undefined ? subset(ds.train, a.trainSubset) : ds.train;
  const test = a.testSubset !== undefined ? subset(ds.test, a.testSubset) : ds.test;
  const master = new Rng(a.seed);
  const modelRng = master.fork();
  const batchRng = master.fork();
  if (a.batchSize > train.n) throw new DataError(`batch size ${a.batchSize} is larger than the ${train.n} training examples; use --batch-size ${train.n} or less`);
  const batches = new BatchIterator(train, rule.trainerBatch, batchRng);
  const model = await buildModel(a, ds.shape, ds.numClasses, modelRng);
  const gpu = await getGpu({ adapterName: a.adapter });
  const trainer = new Trainer(gpu, model, {
    batchSize: rule.trainerBatch,
    evalBatchSize: a.evalBatchSize,
    sgd: { lr: a.lr, momentum: a.momentum, weightDecay: a.weightDecay },
    transform: rule.transform,
  });

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
    { key: 'lr', title: 'lr', width: 8 },
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
  const result = await trainLoop({
    gpu, trainer, batches, rng: batchRng, test, run,
    epochs: a.epochs,
    schedule: { schedule: a.schedule as ScheduleName, lr: a.lr, epochs: a.epochs, stepSize: a.stepSize },
    logEvery: a.logEvery,
    stepsPerUpdate: rule.stepsPerUpdate,
    probe: rule.probe?.(trainer),
    onStart: (epoch) => {
      if (epoch > 0) {
        say(`resuming ${out} after epoch ${epoch}`);
        for (const r of run.readMetrics()) if (r.kind === 'epoch') table.row(r);
      }
    },
    onProgress: (epoch, done, total) => {
      if (epoch !== barEpoch) { barEpoch = epoch; progress.begin(`epoch ${epoch + 1}/${a.epochs}`, total); }
      if (done > 0 && done < total) progress.update(done);
    },
    onEpoch: show,
    stopAfterEpoch: hooks.stopAfterEpoch,
  });
  progress.clear();
  const last = result.rows[result.rows.length - 1];
  if (last && result.completed) say(`done: test accuracy ${(last.test_acc * 100).toFixed(2)}% after ${last.epoch} epochs; metrics in ${run.metricsFile}`);
  return { run, rows: result.rows, completed: result.completed };
}

interface RuleSetup {
  transform?: GradientTransform;
  /** The trainer's batch: the micro-batch of serial M3, else the batch. */
  trainerBatch: number;
  stepsPerUpdate: number;
  probe?: (trainer: Trainer) => CoherenceProbe;
}

async function buildRule(a: TrainArgs, say: (line: string) => void): Promise<RuleSetup> {
  const rules = await importOptional<RulesModule>('../experiments/rules/index.js');
  if (!rules) {
    if (a.rule !== 'sgd') throw new UsageError(`--rule ${a.rule} is not available in this build yet; use --rule sgd`);
    if (a.logCoherence) throw new UsageError('--log-coherence is not available in this build yet; leave it out');
    return { trainerBatch: a.batchSize, stepsPerUpdate: 1 };
  }
  if (a.rule === 'winsorize' && a.winsor === undefined) throw new UsageError('--rule winsorize needs --winsor S, the examples clipped on each side (see cgh train --help)');
  const o: RuleOptions = { rule: a.rule, groups: a.groups, winsor: a.winsor ?? 0, m3Mode: a.m3Mode, batchSize: a.batchSize, momentum: a.momentum };
  try {
    rules.validateRuleOptions(o);
  } catch (e) {
    if (e instanceof rules.RuleError) throw new UsageError(`${e.message} (see cgh train --help)`);
    throw e;
  }
  for (const w of rules.ruleWarnings(o)) say(`cgh: warning: ${w}`);
  return {
    transform: rules.createRule(o),
    trainerBatch: rules.trainerBatchSize(o),
    stepsPerUpdate: rules.stepsPerUpdate(o),
    probe: a.logCoherence ? (t) => rules.createCoherenceProbe(t) : undefined,
  };
}

async function buildModel(a: TrainArgs, inputShape: number[], numClasses: number, rng: Rng): Promise<Model> {
  const registry = await importOptional<RegistryModule>('../models/registry.js');
  if (registry) return registry.createModel(a.model, { inputShape, numClasses, hidden: a.hidden, width: a.width, init: a.init, rng });
  if (a.model !== 'mlp') throw new UsageError(`--model ${a.model} is not available in this build yet; use --model mlp`);
  const hidden = a.hidden.map((h) => Math.max(1, Math.round(h * a.width)));
  return new Mlp(inputShape, numClasses, hidden, rng, a.init);
}

#!/usr/bin/env node
// The `cgh` command: dispatches to the subcommands and turns every error into one line.
import { listAdapters } from '../engine/device.js';
import { Rng } from '../engine/random.js';
import { Mlp } from '../models/mlp.js';
import { parameterCount } from '../models/model.js';
import { closest, helpText, parseArgs, UsageError } from './args.js';
import { importOptional } from './optional.js';
import { formatTable } from './table.js';
import { runCommand } from './run-command.js';
import { packageVersion, trainCommand } from './train.js';

type Command = (argv: string[]) => Promise<void>;

/** A subcommand that lives in a module which may not be built yet. */
function optional(file: string, exportName: string, what: string): Command {
  return async (argv) => {
    const mod = await importOptional<Record<string, Command>>(file);
    if (!mod || typeof mod[exportName] !== 'function') throw new UsageError(`${what} is not available in this build yet`);
    await mod[exportName](argv);
  };
}

const COMMANDS: Record<string, { summary: string; run: Command }> = {
  train: { summary: 'train a model on MNIST or CIFAR-10 into a run folder', run: trainCommand },
  reproduce: { summary: 'run the paper\'s experiments end to end (the main job)', run: optional('./experiment.js', 'reproduceCommand', 'cgh reproduce') },
  experiment: { summary: 'run one CGH experiment protocol', run: optional('./experiment.js', 'experimentCommand', 'cgh experiment') },
  report: { summary: 'summarise run folders into tables and figures', run: optional('./experiment.js', 'reportCommand', 'cgh report') },
  models: { summary: 'list the models with their parameter counts', run: modelsCommand },
  adapters: { summary: 'list the WebGPU adapters this machine offers', run: adaptersCommand },
  bench: { summary: 'measure GEMM GFLOP/s and training throughput on the current adapter', run: optional('./bench.js', 'benchCommand', 'cgh bench') },
  serve: { summary: 'serve the browser training page', run: optional('./serve.js', 'serveCommand', 'cgh serve') },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    'usage: cgh <command> [flags]',
    '',
    'Trains neural networks with WGSL kernels through WebGPU and tests the Coherent Gradients Hypothesis.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'cgh <command> --help shows the flags of a command and their defaults.',
    'Environment: CGH_DEBUG=1 prints stack traces with errors.',
  ].join('\n');
}

const MODELS_SPEC = {
  name: 'models',
  summary: 'List the models cgh train --model accepts, with their parameter counts for the given input.',
  flags: [
    { name: 'input', type: 'int-list', min: 1, metavar: 'C,H,W', help: 'input shape of one example (default: each model\'s standard input)' },
    { name: 'classes', type: 'int', min: 1, help: 'number of classes (default: each model\'s own, 1000 for ImageNet models, else 10)' },
    { name: 'width', type: 'number', min: 0, exclusiveMin: true, default: 1, help: 'width multiplier of the channels (and of the mlp\'s hidden widths)' },
    { name: 'hidden', type: 'int-list', default: [1024, 1024], min: 1, help: 'hidden widths of the mlp (as cgh train --hidden)' },
  ],
} as const;

interface ModelListing { name: string; description: string; inputShape: number[]; numClasses: number; parameters: number | null; error?: string }
interface RegistryModule {
  listModels(settings: { inputShape?: number[]; numClasses?: number; width?: number; hidden?: number[] }): ModelListing[];
}

async function modelsCommand(argv: string[]): Promise<void> {
  const a = parseArgs(MODELS_SPEC, argv);
  if (a.help) { console.log(helpText(MODELS_SPEC)); return; }
  if (a.input && a.input.length !== 3) throw new UsageError(`--input expects C,H,W (three numbers), got ${a.input.join(',')} (see cgh models --help)`);
  const registry = await importOptional<RegistryModule>('../models/registry.js');
  let rows: ModelListing[];
  if (registry) {
    rows = registry.listModels({ inputShape: a.input, numClasses: a.classes, width: a.width, hidden: a.hidden });
  } else {
    const inputShape = a.input ?? [1, 28, 28];
    const numClasses = a.classes ?? 10;
    const mlp = new Mlp(inputShape, numClasses, a.hidden.map((h) => Math.max(1, Math.round(h * a.width))), new Rng(0));
    rows = [{ name: 'mlp', description: 'fully connected ReLU network (other models are not available in this build yet)', inputShape, numClasses, parameters: parameterCount(mlp) }];
  }
  console.log(formatTable([
    { key: 'name', title: 'model', align: 'left' },
    { key: 'input', title: 'input' },
    { key: 'numClasses', title: 'classes' },
    { key: 'parameters', title: 'parameters' },
    { key: 'description', title: 'description', align: 'left' },
  ], rows.map((r) => ({ ...r, input: r.inputShape.join('x'), parameters: r.parameters ?? 'n/a', description: r.error ? `does not fit: ${r.error}` : r.description }))));
  console.log(`\nwidth ${a.width}; mlp hidden ${a.hidden.join(',')}. Train one with cgh train --model NAME.`);
}

const ADAPTERS_SPEC = { name: 'adapters', summary: 'List the WebGPU adapters; pick one for cgh train with --adapter NAME (any part of its name).', flags: [] } as const;

async function adaptersCommand(argv: string[]): Promise<void> {
  const a = parseArgs(ADAPTERS_SPEC, argv);
  if (a.help) { console.log(helpText(ADAPTERS_SPEC)); return; }
  const adapters = await listAdapters();
  console.log(formatTable([
    { key: 'name', title: 'adapter', align: 'left' },
    { key: 'vendor', title: 'vendor', align: 'left' },
    { key: 'backend', title: 'backend', align: 'left' },
    { key: 'maxBuffer', title: 'max buffer (MiB)' },
    { key: 'maxInvocations', title: 'max invocations/workgroup' },
  ], adapters.map((r) => ({ ...r, maxBuffer: Math.floor(r.limits.maxBufferSize / 2 ** 20), maxInvocations: r.limits.maxComputeInvocationsPerWorkgroup }))));
  console.log('\nThe first adapter is the default; choose another with --adapter NAME.');
}

async function dispatch(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') { console.log(mainHelp()); return; }
  if (name === '--version' || name === '-v') { console.log(packageVersion()); return; }
  const command = COMMANDS[name];
  if (!command) {
    const guess = closest(name, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${name}"${guess ? `; did you mean ${guess}?` : ''} (see cgh --help)`);
  }
  await command.run(rest);
}

process.exitCode = await runCommand(dispatch, process.argv.slice(2));

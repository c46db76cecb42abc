#!/usr/bin/env node
// The `cgh` command: dispatches to the subcommands and turns every error into one line.
import { listAdapters } from '../engine/device.js';
import { Rng } from '../engine/random.js';
import { Mlp } from '../models/mlp.js';
import { parameterCount, type Model } from '../models/model.js';
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
    { name: 'input', type: 'int-list', default: [1, 28, 28], min: 1, metavar: 'C,H,W', help: 'input shape of one example' },
    { name: 'classes', type: 'int', default: 10, min: 1, help: 'number of classes' },
    { name: 'width', type: 'int', min: 1, help: 'width of the models that take one (default: each model\'s own)' },
    { name: 'hidden', type: 'int-list', default: [1024, 1024], min: 1, help: 'hidden widths of the mlp' },
  ],
} as const;

interface RegistryModule {
  createModel(name: string, o: Record<string, unknown>): Model;
  listModels(): (string | { name: string; description?: string })[];
}

async function modelsCommand(argv: string[]): Promise<void> {
  const a = parseArgs(MODELS_SPEC, argv);
  if (a.help) { console.log(helpText(MODELS_SPEC)); return; }
  const registry = await importOptional<RegistryModule>('../models/registry.js');
  const rows: Record<string, unknown>[] = [];
  const options = { inputShape: a.input, numClasses: a.classes, hidden: a.hidden, width: a.width, init: 'pytorch', rng: new Rng(0) };
  if (registry) {
    for (const entry of registry.listModels()) {
      const name = typeof entry === 'string' ? entry : entry.name;
      const description = typeof entry === 'string' ? '' : entry.description ?? '';
      let count: number | string;
      try {
        count = parameterCount(registry.createModel(name, { ...options, rng: new Rng(0) }));
      } catch (e) {
        count = `n/a (${(e as Error).message.split('\n')[0]})`;
      }
      rows.push({ name, parameters: count, description });
    }
  } else {
    const mlp = new Mlp(a.input, a.classes, a.hidden, new Rng(0));
    rows.push({ name: 'mlp', parameters: parameterCount(mlp), description: `fully connected ReLU network, hidden ${a.hidden.join(',')} (other models are not available in this build yet)` });
  }
  console.log(`input ${a.input.join('x')}, ${a.classes} classes${a.width ? `, width ${a.width}` : ''}\n`);
  console.log(formatTable([
    { key: 'name', title: 'model' },
    { key: 'parameters', title: 'parameters' },
    { key: 'description', title: 'description', align: 'left' },
  ], rows));
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

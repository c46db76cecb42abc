#!/usr/bin/env node
// The `cgh` command: dispatches to the subcommands and turns every error into one line.
import { listAdapters } from '../engine/device.js';
import { defaultFamily } from '../engine/plans.js';
import { closest, helpText, parseArgs, UsageError } from './args.js';
import { formatTable } from './table.js';
import { runCommand } from './run-command.js';
import { packageVersion } from './version.js';

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, { summary: string; run: Command }> = {
  train: { summary: 'train a model on MNIST or CIFAR-10 into a run folder', run: async (argv) => (await import('./train.js')).trainCommand(argv) },
  reproduce: {
    summary: 'run the paper\'s experiments end to end (the main job)',
    run: async (argv) => (await import('./experiment.js')).reproduceCommand(argv),
  },
  experiment: { summary: 'run one CGH experiment protocol', run: async (argv) => (await import('./experiment.js')).experimentCommand(argv) },
  report: { summary: 'summarise run folders into tables and figures', run: async (argv) => (await import('./experiment.js')).reportCommand(argv) },
  prepare: {
    summary: 'convert an image-folder dataset (ImageNet) into resized uint8 shards',
    run: async (argv) => (await import('./prepare/command.js')).prepareCommand(argv),
  },
  models: { summary: 'list the models with their parameter counts', run: async (argv) => (await import('./models.js')).modelsCommand(argv) },
  adapters: { summary: 'list the WebGPU adapters this machine offers', run: adaptersCommand },
  bench: {
    summary: 'measure GEMM GFLOP/s and training throughput on the current adapter',
    run: async (argv) => (await import('./bench.js')).benchCommand(argv),
  },
  serve: { summary: 'serve the browser training page', run: async (argv) => (await import('./serve.js')).serveCommand(argv) },
  worker: { summary: 'train the runs of grids queued on Redis, one worker per GPU', run: async (argv) => (await import('./worker.js')).workerCommand(argv) },
  queue: {
    summary: 'run an experiment folder\'s grid on a Redis queue or local workers; show its progress',
    run: async (argv) => (await import('./queue.js')).queueCommand(argv),
  },
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

const ADAPTERS_SPEC = { name: 'adapters', summary: 'List the WebGPU adapters; pick one for cgh train with --adapter NAME (any part of its '
  + 'name).', flags: [] } as const;

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
    { key: 'workgroupKiB', title: 'workgroup memory (KiB)' },
    { key: 'plans', title: 'kernel plans', align: 'left' },
  ], adapters.map((r) => ({
    ...r,
    maxBuffer: Math.floor(r.limits.maxBufferSize / 2 ** 20),
    maxInvocations: r.limits.maxComputeInvocationsPerWorkgroup,
    workgroupKiB: r.limits.maxComputeWorkgroupStorageSize / 1024,
    plans: defaultFamily(r) + (defaultFamily(r) === 'gpu' && r.features.includes('subgroups') ? ' + subgroups' : ''),
  }))));
  console.log('');
  for (const r of adapters) console.log(`${r.name} features: ${r.features.join(', ') || 'none'}`);
  console.log('\nThe first adapter is the default; choose another with --adapter NAME. CGH_PLANS=gpu|lavapipe (or matmul=..,conv=..)');
  console.log('forces a kernel plan family on any adapter; add ,nofuse to run bias adds and ReLUs as passes of their own.');
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

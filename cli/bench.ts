// `npm run bench` / `cgh bench`: the adapter, then each benchmark's table. Figures only, never assertions.
import { pathToFileURL } from 'node:url';
import { getGpu } from '../engine/context.js';
import { describePlans } from '../engine/plans.js';
import type { Gpu } from '../engine/gpu.js';
import { helpText, parseArgs, UsageError } from './args.js';
import { benchMlp } from './bench/mlp.js';
import { runCommand } from './run-command.js';
import { formatTable } from './table.js';

type BenchOutput = string | Record<string, unknown>[] | void;
interface BenchOptions { quick: boolean; profile: boolean }

/** The sections in print order; each module is loaded only when its section runs. */
const SECTIONS: { name: string; title: string; run: (gpu: Gpu, o: BenchOptions) => Promise<BenchOutput>; onlyByName?: boolean }[] = [
  { name: 'gemm', title: 'GEMM', run: async (gpu) => { const m = await import('./bench/gemm.js'); return m.formatGemmBench(await m.benchGemm(gpu)); } },
  { name: 'mlp', title: 'MLP training', run: (gpu) => benchMlp(gpu) },
  { name: 'rules', title: 'Gradient rules',
    run: async (gpu) => { const m = await import('./bench/rules.js'); return m.formatRulesBench(await m.benchRules(gpu)); } },
  { name: 'conv', title: 'Convolutions', run: async (gpu) => { const m = await import('./bench/conv.js'); return m.formatConvBench(await m.benchConv(gpu)); } },
  { name: 'models', title: 'Models',
    run: async (gpu) => { const m = await import('./bench/models.js'); return m.formatModelsBench(await m.benchModels(gpu)); } },
  { name: 'loader', title: 'Image loader',
    run: async (gpu) => { const m = await import('./bench/loader.js'); return m.formatLoaderBench(await m.benchLoader(gpu), gpu.report.name); } },
  { name: 'fusion', title: 'Fused passes (A/B)', onlyByName: true,
    run: async (gpu) => { const m = await import('./bench/fusion.js'); return m.formatFusionBench(await m.benchFusion(gpu)); } },
  // Full-size models: far too slow for a CPU adapter, so run only when named (--quick shrinks them).
  { name: 'gpu', title: 'Real-GPU suite', run: async (gpu, o) => (await import('./bench/gpu.js')).benchGpu(gpu, o), onlyByName: true },
];

const BENCH_SPEC = {
  name: 'bench',
  summary: 'Measure GEMM GFLOP/s, MLP training throughput and step efficiency on the current adapter (the full-size gpu section only with --only gpu).',
  flags: [
    { name: 'only', type: 'string', metavar: 'LIST', help: `comma-separated sections to run, of ${SECTIONS.map((s) => s.name).join(', ')} (default: all)` },
    { name: 'adapter', type: 'string', metavar: 'NAME', help: 'use the WebGPU adapter whose name contains NAME (see cgh adapters)' },
    { name: 'quick', type: 'boolean',
      help: 'the gpu section at toy sizes (1/8 width, small inputs and batches, GEMM 128/256), to smoke-test it on a CPU adapter' },
    { name: 'profile', type: 'boolean',
      help: "the gpu section also times each dispatch of a step (WebGPU timestamp queries) and lists the kernels taking the most GPU time" },
  ],
} as const;

export async function benchCommand(argv: string[]): Promise<void> {
  const a = parseArgs(BENCH_SPEC, argv);
  if (a.help) { console.log(helpText(BENCH_SPEC)); return; }
  const only = a.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !SECTIONS.some((s) => s.name === n)) ?? [];
  if (unknown.length > 0) throw new UsageError(`unknown bench section ${unknown.join(', ')}; use --only with ${SECTIONS.map((s) => s.name).join(', ')} (see `
    + `cgh bench --help)`);
  const gpu = await getGpu({ adapterName: a.adapter });
  const r = gpu.report;
  console.log(`adapter: ${r.name} (vendor ${r.vendor}, ${r.architecture}, backend ${r.backend}); kernel plans ${describePlans(gpu.plans)}; `
    + `max buffer ${Math.floor(r.limits.maxBufferSize / 2 ** 20)} MiB, max storage binding ${Math.floor(r.limits.maxStorageBufferBindingSize / 2 ** 20)} MiB, `
    + `${r.limits.maxComputeInvocationsPerWorkgroup} invocations/workgroup`);
  for (const section of SECTIONS) {
    if (only ? !only.includes(section.name) : section.onlyByName) continue;
    console.log(`\n== ${section.title} ==`);
    const out = await section.run(gpu, { quick: !!a.quick, profile: !!a.profile });
    if (typeof out === 'string') console.log(out);
    else if (Array.isArray(out) && out.length > 0) console.log(formatTable(Object.keys(out[0]).map((key) => ({ key, title: key })), out));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCommand(benchCommand, process.argv.slice(2));
}

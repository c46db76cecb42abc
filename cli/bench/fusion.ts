// `cgh bench --only fusion`: each fused pass against the same ops unfused (CGH_PLANS=...,nofuse), on the current plans,
// the two programs alternating in rounds so that a shared machine's drift hits both alike. Figures only.
import type { Gpu } from '../../engine/gpu.js';
import { Graph, Node, Parameter } from '../../engine/graph.js';
import { Program } from '../../engine/program.js';
import { Rng } from '../../engine/random.js';
import { matmul } from '../../engine/ops/matmul.js';
import { addBias } from '../../engine/ops/bias.js';
import { add, relu, reluBackward } from '../../engine/ops/elementwise.js';
import { SliceOp } from '../../engine/ops/concat.js';
import { batchNorm2d } from '../../engine/ops/batchnorm.js';
import { formatTable, fixed } from '../table.js';

interface FusionCase { label: string; build: (g: Graph) => { inputs: Node[]; out: Node } }

const CASES: FusionCase[] = [
  {
    label: 'batch norm (training) + ReLU, [32, 64, 28, 28]',
    build: (g) => {
      const x = g.input('x', [32, 64, 28, 28]);
      const C = 64;
      const p = (name: string, v: number) => g.param(new Parameter(name, [C], new Float32Array(C).fill(v)));
      const running = { mean: new Parameter('rm', [C], new Float32Array(C)), var: new Parameter('rv', [C], new Float32Array(C).fill(1)), batchesTracked: null,
        momentum: 0.1 };
      return { inputs: [x], out: relu(batchNorm2d(x, p('gamma', 1), p('beta', 0), { running })) };
    },
  },
  {
    label: 'add + ReLU, [32, 64, 28, 28]',
    build: (g) => {
      const a = g.input('a', [32, 64, 28, 28]), b = g.input('b', [32, 64, 28, 28]);
      return { inputs: [a, b], out: relu(add(a, b)) };
    },
  },
  {
    label: 'sum of two gradients + ReLU mask, [32, 64, 28, 28]',
    build: (g) => {
      const a = g.input('da', [32, 64, 28, 28]), b = g.input('db', [32, 64, 28, 28]), y = g.input('y', [32, 64, 28, 28]);
      return { inputs: [a, b, y], out: reluBackward(add(a, b), y) };
    },
  },
  {
    label: 'concat gradient slice + ReLU mask, [32, 64 of 128, 28, 28]',
    build: (g) => {
      const dy = g.input('dy', [32, 128, 28, 28]), y = g.input('y', [32, 64, 28, 28]);
      const piece = g.op(SliceOp, [dy], y.shape, { inner: 64 * 28 * 28, offset: 0, total: 128 * 28 * 28 });
      return { inputs: [dy, y], out: reluBackward(piece, y) };
    },
  },
  {
    label: 'bias + ReLU, [512, 4096]',
    build: (g) => {
      const x = g.input('x', [512, 4096]), b = g.input('b', [4096]);
      return { inputs: [x, b], out: relu(addBias(x, b)) };
    },
  },
  {
    label: 'Linear 1024 -> 1024 + bias + ReLU, batch 128',
    build: (g) => {
      const x = g.input('x', [128, 1024]);
      const w = g.input('w', [1024, 1024]), b = g.input('b', [1024]);
      return { inputs: [x, w, b], out: relu(addBias(matmul(x, w, { transB: true }), b)) };
    },
  },
];

export interface FusionRow { case: string; unfusedMs: number; fusedMs: number; unfusedCpuMs: number; fusedCpuMs: number; ratio: number; dispatches: string }

function compileWith(gpu: Gpu, fusion: boolean, c: FusionCase, rng: Rng): Program {
  const old = gpu.plans;
  gpu.plans = { ...old, fusion };
  try {
    const g = new Graph();
    const { inputs, out } = c.build(g);
    const p = new Program(gpu, g, [out]);
    for (const i of inputs) p.write(i, Float32Array.from({ length: i.size }, () => rng.normal()));
    return p;
  } finally {
    gpu.plans = old;
  }
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** Per case: median over `rounds` of the mean wall and process CPU time per run, each round running both programs. */
export async function benchFusion(gpu: Gpu, opts: { rounds?: number; runsPerRound?: number } = {}): Promise<FusionRow[]> {
  const rounds = opts.rounds ?? 7, runs = opts.runsPerRound ?? 3;
  const rng = new Rng(5);
  const rows: FusionRow[] = [];
  for (const c of CASES) {
    const programs = [compileWith(gpu, false, c, rng), compileWith(gpu, true, c, rng)];
    for (const p of programs) { p.run(); await gpu.idle(); }
    const wall: number[][] = [[], []], cpu: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) {
      // Odd rounds run the fused program first, so that an order effect cancels in the medians.
      for (const i of r % 2 ? [1, 0] : [0, 1]) {
        const p = programs[i];
        const t = performance.now(), u = process.cpuUsage();
        for (let k = 0; k < runs; k++) { p.run(); await gpu.idle(); }
        const used = process.cpuUsage(u);
        wall[i].push((performance.now() - t) / runs);
        cpu[i].push((used.user + used.system) / 1000 / runs);
      }
    }
    const [unfusedMs, fusedMs] = wall.map(median), [unfusedCpuMs, fusedCpuMs] = cpu.map(median);
    rows.push({ case: c.label, unfusedMs, fusedMs, unfusedCpuMs, fusedCpuMs, ratio: fusedCpuMs / unfusedCpuMs,
      dispatches: `${programs[0].dispatches.length} -> ${programs[1].dispatches.length}` });
  }
  return rows;
}

export function formatFusionBench(rows: FusionRow[]): string {
  return [
    'Fused passes against the same ops unfused, forward only, on the current plans (median of 7 rounds of 3 runs each, in alternating order).',
    formatTable([
      { key: 'case', title: 'case', align: 'left' },
      { key: 'dispatches', title: 'dispatches' },
      { key: 'unfusedMs', title: 'unfused ms', format: fixed(2) },
      { key: 'fusedMs', title: 'fused ms', format: fixed(2) },
      { key: 'unfusedCpuMs', title: 'unfused CPU ms', format: fixed(2) },
      { key: 'fusedCpuMs', title: 'fused CPU ms', format: fixed(2) },
      { key: 'ratio', title: 'fused/unfused CPU', format: fixed(2) },
    ], rows as unknown as Record<string, unknown>[]),
    'CPU ms: the process\'s CPU time per run (a CPU adapter\'s worker threads included), steadier than wall time on a shared machine.',
  ].join('\n');
}

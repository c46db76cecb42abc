// GFLOP/s of the engine's matmul (shaders/matmul.wgsl through engine/ops/matmul.ts) on square products and on
// the products of an MLP 784-1024-1024-10 step: forward y = x·Wᵀ (NT), dX = dY·W (NN), dW = dYᵀ·X (TN).
// Each shape is its own Program with one dispatch; all shapes are measured in interleaved rounds and the best
// round is kept, so that another process briefly taking the cores does not count against any one shape.
import type { Gpu } from '../../engine/gpu.js';
import { Graph } from '../../engine/graph.js';
import { Program } from '../../engine/program.js';
import { matmul } from '../../engine/ops/matmul.js';
import { Rng } from '../../engine/random.js';
import { formatTable, fixed } from '../table.js';

export interface GemmBenchRow {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** 2·M·N·K / time. */
  gflops: number;
  /** Milliseconds per product (best round). */
  ms: number;
}

export interface GemmShape { name: string; M: number; N: number; K: number; transA: boolean; transB: boolean }

/** Square NN products, then for each batch and layer of the MLP its forward (NT), dX (NN) and dW (TN) products. */
export function gemmShapes(batches = [32, 128], layers = [784, 1024, 1024, 10]): GemmShape[] {
  const shapes: GemmShape[] = [256, 512, 1024].map((s) => ({ name: `square ${s}`, M: s, N: s, K: s, transA: false, transB: false }));
  for (const b of batches) {
    for (let l = 0; l + 1 < layers.length; l++) {
      const [i, o] = [layers[l], layers[l + 1]];
      const layer = `B=${b} ${i}->${o}`;
      shapes.push({ name: `${layer} fwd x·Wᵀ`, M: b, N: o, K: i, transA: false, transB: true });
      shapes.push({ name: `${layer} dX dY·W`, M: b, N: i, K: o, transA: false, transB: false });
      shapes.push({ name: `${layer} dW dYᵀ·X`, M: o, N: i, K: b, transA: true, transB: false });
    }
  }
  return shapes;
}

interface Case { shape: GemmShape; program: Program; flops: number; best: number }

export async function benchGemm(gpu: Gpu, opts: { shapes?: GemmShape[]; rounds?: number; ms?: number } = {}): Promise<GemmBenchRow[]> {
  const shapes = opts.shapes ?? gemmShapes();
  const rounds = opts.rounds ?? 3;
  const target = opts.ms ?? 150; // wall time per measurement
  const rng = new Rng(11);
  const cases: Case[] = shapes.map((shape) => {
    const { M, N, K, transA, transB } = shape;
    const g = new Graph();
    const a = g.input('a', transA ? [K, M] : [M, K]);
    const b = g.input('b', transB ? [N, K] : [K, N]);
    const c = matmul(a, b, { transA, transB });
    const program = new Program(gpu, g, [c]);
    program.write(a, new Float32Array(M * K).map(() => rng.uniform() - 0.5));
    program.write(b, new Float32Array(K * N).map(() => rng.uniform() - 0.5));
    return { shape, program, flops: 2 * M * N * K, best: Infinity };
  });
  // Warm-up: compiles each pipeline and teaches gpu.idle() how long each program takes.
  for (const c of cases) {
    c.program.run();
    await gpu.idle();
    c.program.run();
    await gpu.idle();
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      let t = performance.now();
      c.program.run();
      await gpu.idle();
      const single = performance.now() - t;
      const reps = Math.max(1, Math.min(500, Math.round(target / Math.max(single, 0.05))));
      t = performance.now();
      for (let i = 0; i < reps; i++) c.program.run();
      await gpu.idle();
      c.best = Math.min(c.best, (performance.now() - t) / reps);
    }
  }
  return cases.map(({ shape, flops, best }) => ({ ...shape, gflops: flops / best / 1e6, ms: best }));
}

export function formatGemmBench(rows: GemmBenchRow[]): string {
  return formatTable([
    { key: 'name', title: 'product', align: 'left' },
    { key: 'M', title: 'M' },
    { key: 'N', title: 'N' },
    { key: 'K', title: 'K' },
    { key: 'op', title: 'op' },
    { key: 'ms', title: 'ms', format: fixed(2) },
    { key: 'gflops', title: 'GFLOP/s', format: fixed(2) },
  ], rows.map((r) => ({ ...r, op: `${r.transA ? 'T' : 'N'}${r.transB ? 'T' : 'N'}` })) as unknown as Record<string, unknown>[]);
}

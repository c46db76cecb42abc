// MLP training throughput, and the step's efficiency: the FLOP/s of a whole training step divided by
// the FLOP/s of the same GEMMs run on their own.
import type { Gpu } from '../../engine/gpu.js';
import { Graph, type Node } from '../../engine/graph.js';
import { Program } from '../../engine/program.js';
import { matmul } from '../../engine/ops/matmul.js';
import { Rng } from '../../engine/random.js';
import { Trainer } from '../../engine/trainer.js';
import { Mlp } from '../../models/mlp.js';
import { formatTable, fixed } from '../table.js';

export interface MlpBenchResult {
  batch: number;
  examplesPerSecond: number;
  stepMs: number;
  /** FLOPs of the step's matrix products (the elementwise work is not counted). */
  stepGflop: number;
  stepGflops: number;
  gemmGflops: number;
  efficiency: number;
  gemms: { shape: string; count: number; ms: number; gflops: number }[];
}

interface GemmShape { transA: boolean; transB: boolean; M: number; N: number; K: number; batch: number; aShape: number[]; bShape: number[] }

const now = () => performance.now();

/** Runs `once` repeatedly for about `seconds` (after a warm-up) and returns milliseconds per run. */
async function timeRuns(gpu: Gpu, once: () => void, seconds: number, syncEvery = 1_000_000): Promise<number> {
  once(); once();
  await gpu.idle();
  let t = now();
  once();
  await gpu.idle();
  const single = now() - t;
  const reps = Math.max(3, Math.min(400, Math.ceil((seconds * 1000) / Math.max(single, 0.01))));
  t = now();
  for (let i = 1; i <= reps; i++) {
    once();
    if (i % syncEvery === 0) await gpu.idle();
  }
  await gpu.idle();
  return (now() - t) / reps;
}

function gemmShapes(program: Program): GemmShape[] {
  return program.order
    .filter((n: Node) => n.kind === 'op' && n.op!.type === 'matmul')
    .map((n) => ({ ...(n.attrs as { transA: boolean; transB: boolean; M: number; N: number; K: number; batch: number }), aShape: n.inputs[0].shape,
      bShape: n.inputs[1].shape }));
}

const flops = (s: GemmShape) => 2 * s.M * s.N * s.K * s.batch;
const label = (s: GemmShape) => `${s.batch > 1 ? `${s.batch}x` : ''}${s.M}x${s.N}x${s.K}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`;

/**
 * A GEMM of the given shape and transposes on its own, as a function that times it (ms per product):
 * copies back to back in one command buffer, as in a training step, so submit overhead is not charged.
 */
async function gemmTimer(gpu: Gpu, s: GemmShape, rng: Rng): Promise<(seconds: number) => Promise<number>> {
  const g = new Graph();
  const a = g.input('a', s.aShape);
  const b = g.input('b', s.bShape);
  const y = matmul(a, b, { transA: s.transA, transB: s.transB });
  const p = new Program(gpu, g, [y]);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.uniform() - 0.5);
  p.write(a, fill(a.size));
  p.write(b, fill(b.size));
  const single = await timeRuns(gpu, () => p.run(), 0);
  const copies = Math.max(1, Math.min(64, Math.ceil(20 / Math.max(single, 0.01))));
  const list = Array.from({ length: copies }, () => p.dispatches).flat();
  return async (seconds) => (await timeRuns(gpu, () => gpu.submit(list, `bench ${label(s)} x${copies}`), seconds)) / copies;
}

export interface MlpBenchOptions {
  batches?: number[];
  hidden?: number[];
  /** Seconds of timed work per round for the step, and for all GEMMs together. */
  seconds?: number;
  /** Rounds alternating the step and its GEMMs; each keeps its fastest round, which damps other load on the machine. */
  rounds?: number;
}

/** Training throughput of the MLP 784-hidden-10 on random data at each batch size. */
export async function benchMlpResults(gpu: Gpu, opts: MlpBenchOptions = {}): Promise<MlpBenchResult[]> {
  const hidden = opts.hidden ?? [1024, 1024];
  const seconds = opts.seconds ?? 4;
  const rounds = opts.rounds ?? 3;
  const rng = new Rng(1);
  const results: MlpBenchResult[] = [];
  for (const B of opts.batches ?? [32, 128]) {
    const model = new Mlp([1, 28, 28], 10, hidden, rng.fork());
    const trainer = new Trainer(gpu, model, { batchSize: B, sgd: { lr: 0.01, momentum: 0, weightDecay: 0 } });
    const images = Float32Array.from({ length: B * 784 }, () => rng.uniform());
    const labels = Int32Array.from({ length: B }, () => rng.int(10));
    let step = 0;
    const shapes = gemmShapes(trainer.train.program);
    const distinct = new Map<string, { s: GemmShape; count: number; time: (seconds: number) => Promise<number>; best: number }>();
    for (const s of shapes) {
      const d = distinct.get(label(s));
      if (d) d.count++;
      else distinct.set(label(s), { s, count: 1, time: await gemmTimer(gpu, s, rng), best: Infinity });
    }
    let stepMs = Infinity;
    for (let r = 0; r < rounds; r++) {
      // The same rhythm as the epoch loop: wait for the GPU every ~512 examples.
      stepMs = Math.min(stepMs, await timeRuns(gpu, () => trainer.step(images, labels, step++, 0.01), seconds, Math.max(1, Math.round(512 / B))));
      for (const d of distinct.values()) d.best = Math.min(d.best, await d.time(Math.max(0.5, seconds / distinct.size)));
    }
    await trainer.takeMetrics();
    const gemms = [...distinct].map(([name, d]) => ({ shape: name, count: d.count, ms: d.best, gflops: flops(d.s) / d.best / 1e6 }));
    const gemmMs = [...distinct.values()].reduce((t, d) => t + d.best * d.count, 0);
    const stepFlop = shapes.reduce((t, s) => t + flops(s), 0);
    results.push({
      batch: B,
      examplesPerSecond: (B * 1000) / stepMs,
      stepMs,
      stepGflop: stepFlop / 1e9,
      stepGflops: stepFlop / stepMs / 1e6,
      gemmGflops: stepFlop / gemmMs / 1e6,
      efficiency: gemmMs / stepMs,
      gemms,
    });
  }
  return results;
}

export async function benchMlp(gpu: Gpu, opts: MlpBenchOptions = {}): Promise<string> {
  const hidden = opts.hidden ?? [1024, 1024];
  const results = await benchMlpResults(gpu, opts);
  const main = formatTable([
    { key: 'batch', title: 'batch' },
    { key: 'examplesPerSecond', title: 'examples/s', format: fixed(0) },
    { key: 'stepMs', title: 'step ms', format: fixed(1) },
    { key: 'stepGflops', title: 'step GFLOP/s', format: fixed(2) },
    { key: 'gemmGflops', title: 'same GEMMs alone GFLOP/s', format: fixed(2) },
    { key: 'efficiency', title: 'step efficiency', format: fixed(2) },
  ], results.map((r) => ({ ...r })));
  const detail = formatTable([
    { key: 'batch', title: 'batch' },
    { key: 'shape', title: 'GEMM in the step (MxNxK)', align: 'left' },
    { key: 'count', title: 'count' },
    { key: 'ms', title: 'ms alone', format: fixed(2) },
    { key: 'gflops', title: 'GFLOP/s', format: fixed(2) },
  ], results.flatMap((r) => r.gemms.map((g) => ({ batch: r.batch, ...g }))));
  return [
    `MLP 784-${hidden.join('-')}-10 training (random data; step = forward, backward, SGD update, metrics; one command buffer)`,
    main,
    'step efficiency = (step GEMM FLOPs / step time) / (the same GEMMs run alone); the step FLOPs count its matrix products only;',
    `each time is the fastest of ${opts.rounds ?? 3} rounds alternating the step and the GEMMs.`,
    '',
    detail,
  ].join('\n');
}

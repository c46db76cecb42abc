// Training throughput of the benchmark models on MNIST-sized input (random data, batch 128): examples/s and
// the GFLOP/s of the step's convolutions and matrix products (elementwise, batch-norm and pooling work is not
// counted). Figures only.
import type { Gpu } from '../../engine/gpu.js';
import type { Node } from '../../engine/graph.js';
import { Rng } from '../../engine/random.js';
import { Trainer } from '../../engine/trainer.js';
import { createModel } from '../../models/registry.js';
import { formatTable, fixed } from '../table.js';

export interface ModelBenchRow {
  model: string;
  /** Channels x height x width. */
  input: string;
  batch: number;
  examplesPerSecond: number;
  stepMs: number;
  /** CPU time of the whole process per step (a CPU adapter's worker threads included): steadier than wall time on a shared machine. */
  cpuMs: number;
  /** FLOPs of the step's convolutions (forward, input and weight gradients) and matrix products. */
  stepGflop: number;
  gflops: number;
}

/** FLOPs of one node's product: 2 * multiply-adds for matmuls and the three convolution kernels, 0 otherwise. */
export function productFlops(n: Node): number {
  if (n.kind !== 'op') return 0;
  const a = n.attrs;
  switch (n.op!.type) {
    case 'matmul':
      return 2 * a.M * a.N * a.K * a.batch;
    case 'conv2d':
    case 'conv2d_input_grad':
    case 'conv2d_weight_grad': {
      const g = a.geo;
      return 2 * g.N * g.Ho * g.Wo * g.O * (g.C / g.groups) * g.KH * g.KW;
    }
    default:
      return 0;
  }
}

const MODELS: { label: string; name: string; width: number; input: [number, number, number]; batch: number }[] = [
  { label: 'small CNN (conv5x5 32, pool, conv5x5 64, pool, fc 512, fc 10)', name: 'small-cnn', width: 1, input: [1, 28, 28], batch: 128 },
  { label: 'ResNet-20 (CIFAR-style, option A shortcuts)', name: 'resnet20', width: 1, input: [1, 28, 28], batch: 128 },
  // Mostly 1x1 convolutions, which run as plain products on the matmul kernel.
  { label: 'Inception-V3 at width 0.25', name: 'inception_v3', width: 0.25, input: [3, 75, 75], batch: 32 },
];

/** Training throughput on random data: one step per command buffer, waiting every step. */
export async function benchModels(gpu: Gpu, opts: { seconds?: number } = {}): Promise<ModelBenchRow[]> {
  const seconds = opts.seconds ?? 20;
  const rng = new Rng(1);
  const rows: ModelBenchRow[] = [];
  for (const m of MODELS) {
    const B = m.batch;
    const inputSize = m.input[0] * m.input[1] * m.input[2];
    const model = createModel(m.name, { inputShape: m.input, numClasses: 10, width: m.width, rng: rng.fork() });
    const trainer = new Trainer(gpu, model, { batchSize: B, sgd: { lr: 0.01, momentum: 0.9, weightDecay: 0 } });
    const images = Float32Array.from({ length: B * inputSize }, () => rng.uniform());
    const labels = Int32Array.from({ length: B }, () => rng.int(10));
    let step = 0;
    const once = () => trainer.step(images, labels, step++, 0.01);
    once();
    await gpu.idle();
    let t = performance.now();
    once();
    await gpu.idle();
    const single = performance.now() - t;
    const reps = Math.max(2, Math.min(50, Math.round((seconds * 1000) / single)));
    t = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < reps; i++) {
      once();
      await gpu.idle();
    }
    const stepMs = (performance.now() - t) / reps;
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000 / reps;
    await trainer.takeMetrics();
    const flop = trainer.train.program.order.reduce((s, n) => s + productFlops(n), 0);
    rows.push({ model: m.label, input: m.input.join('x'), batch: B, examplesPerSecond: (B * 1000) / stepMs, stepMs, cpuMs, stepGflop: flop / 1e9,
      gflops: flop / stepMs / 1e6 });
  }
  return rows;
}

export function formatModelsBench(rows: ModelBenchRow[]): string {
  return [
    'Model training on random data (step = forward, backward, SGD update, metrics; one command buffer)',
    formatTable([
      { key: 'model', title: 'model' },
      { key: 'input', title: 'input' },
      { key: 'batch', title: 'batch' },
      { key: 'examplesPerSecond', title: 'examples/s', format: fixed(1) },
      { key: 'stepMs', title: 'step ms', format: fixed(0) },
      { key: 'cpuMs', title: 'CPU ms', format: fixed(0) },
      { key: 'stepGflop', title: 'GFLOP/step', format: fixed(2) },
      { key: 'gflops', title: 'GFLOP/s', format: fixed(2) },
    ], rows as unknown as Record<string, unknown>[]),
    'CPU ms: the process\'s CPU time per step, which a CPU adapter spreads over its worker threads.',
    'GFLOP counts the convolutions (forward, input and weight gradients) and matrix products; elementwise, batch-norm and pooling work is not counted.',
  ].join('\n');
}

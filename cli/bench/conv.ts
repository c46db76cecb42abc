// Convolution layers, forward and backward, against the GEMMs of the same work: each kernel's GFLOP/s and the
// layer's forward+backward GFLOP/s as a fraction of the matmul op's on the equivalent matrix products.
import type { Gpu } from '../../engine/gpu.js';
import { Graph, type Node } from '../../engine/graph.js';
import { Program } from '../../engine/program.js';
import { conv2d, Conv2dOp, outputSize } from '../../engine/ops/conv2d.js';
import { matmul } from '../../engine/ops/matmul.js';
import { Rng } from '../../engine/random.js';
import { formatTable, fixed } from '../table.js';

export interface ConvLayer {
  name: string;
  /** Input channels, height, width (the batch is the benchmark's). */
  input: [number, number, number];
  out: number;
  kernel: number;
  stride?: number;
  padding?: number;
  groups?: number;
  /** The layer reads the network's input: training needs no input gradient, so none is timed or counted. */
  first?: boolean;
}

/**
 * The conv layers of the small CNN and of a 20-layer CIFAR-style ResNet adapted to 28x28x1 (one of each shape), and
 * two 1x1 shapes of the ImageNet models (a resnet18-style downsampling shortcut, an inception-style 1x1).
 */
export const benchLayers: ConvLayer[] = [
  { name: 'cnn conv1 5x5 1->32', input: [1, 28, 28], out: 32, kernel: 5, padding: 2, first: true },
  { name: 'cnn conv2 5x5 32->64', input: [32, 14, 14], out: 64, kernel: 5, padding: 2 },
  { name: 'resnet stem 3x3 1->16', input: [1, 28, 28], out: 16, kernel: 3, padding: 1, first: true },
  { name: 'resnet 3x3 16->16', input: [16, 28, 28], out: 16, kernel: 3, padding: 1 },
  { name: 'resnet 3x3 16->32 s2', input: [16, 28, 28], out: 32, kernel: 3, stride: 2, padding: 1 },
  { name: 'resnet 3x3 32->32', input: [32, 14, 14], out: 32, kernel: 3, padding: 1 },
  { name: 'resnet 3x3 32->64 s2', input: [32, 14, 14], out: 64, kernel: 3, stride: 2, padding: 1 },
  { name: 'resnet 3x3 64->64', input: [64, 7, 7], out: 64, kernel: 3, padding: 1 },
  { name: 'shortcut 1x1 16->32 s2', input: [16, 28, 28], out: 32, kernel: 1, stride: 2 },
  { name: 'inception-style 1x1 64->32', input: [64, 14, 14], out: 32, kernel: 1 },
];

export interface ConvBenchRow {
  layer: string;
  batch: number;
  /** GFLOP of each of the three products (forward, input gradient, weight gradient): 2 * positions * O * C/g * k * k. */
  gflop: number;
  forwardMs: number;
  /** NaN for a first layer (not timed). */
  inputGradMs: number;
  weightGradMs: number;
  biasGradMs: number;
  forwardGflops: number;
  inputGradGflops: number;
  weightGradGflops: number;
  /** Forward, input gradient (except for a first layer), weight gradient and bias gradient in one command buffer. */
  convGflops: number;
  /** The matmul op on [P, K]x[K, O], [P, O]x[O, K] and [P, O]ᵀx[P, K] with P = batch * Ho * Wo, K = C/g * k * k. */
  gemmGflops: number;
  ratio: number;
}

const now = () => performance.now();

/**
 * Milliseconds per run of each program: the fastest of `rounds` runs, the programs taking turns within each round
 * so that a burst of other work on a shared CPU adapter falls on all of them alike. A warm-up run comes first.
 */
async function timePrograms(gpu: Gpu, programs: Program[], rounds: number): Promise<number[]> {
  for (const p of programs) p.run();
  await gpu.idle();
  const best = programs.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < programs.length; i++) {
      const t = now();
      programs[i].run();
      await gpu.idle();
      best[i] = Math.min(best[i], now() - t);
    }
  }
  return best;
}

function program(gpu: Gpu, g: Graph, outputs: Node[], inputs: Node[], rng: Rng): Program {
  const p = new Program(gpu, g, outputs);
  for (const x of inputs) p.write(x, Float32Array.from({ length: x.size }, () => rng.uniform() - 0.5));
  return p;
}

/** Per-layer timings of the conv kernels and of the matmul op on the same GEMM shapes. */
export async function benchConv(gpu: Gpu, opts: { batch?: number; rounds?: number; layers?: ConvLayer[] } = {}): Promise<ConvBenchRow[]> {
  const batch = opts.batch ?? 128;
  const rounds = opts.rounds ?? 8;
  const rng = new Rng(3);
  const rows: ConvBenchRow[] = [];
  for (const layer of opts.layers ?? benchLayers) {
    const [C, H, W] = layer.input;
    const { out: O, kernel: k, stride = 1, padding = 0, groups = 1 } = layer;
    const Ho = outputSize(H, k, stride, padding, 1), Wo = outputSize(W, k, stride, padding, 1);
    const P = batch * Ho * Wo, Kg = (C / groups) * k * k, Og = O / groups;

    const g = new Graph();
    g.plans = gpu.plans;
    const x = g.input('x', [batch, C, H, W]);
    const w = g.input('w', [O, C / groups, k, k]);
    const b = g.input('b', [O]);
    const y = conv2d(x, w, b, { stride, padding, groups });
    const dy = g.input('dy', y.shape);
    const [dx, dw, db] = Conv2dOp.backward!(y, dy) as Node[];
    const gm = new Graph();
    const shape = (m: number, n: number) => (groups > 1 ? [groups, m, n] : [m, n]);
    const pk = gm.input('pk', shape(P, Kg)), ko = gm.input('ko', shape(Kg, Og)), po = gm.input('po', shape(P, Og)), ok = gm.input('ok', shape(Og, Kg));
    const gemms = [matmul(pk, ko), matmul(po, pk, { transA: true })];
    if (!layer.first) gemms.push(matmul(po, ok));

    const convProgram = (outputs: Node[]) => program(gpu, g, outputs, [x, w, b, dy], rng);
    const all = layer.first ? [y, dw, db] : [y, dx, dw, db];
    const programs = [convProgram(all), program(gpu, gm, gemms, [pk, ko, po, ok], rng), convProgram([y]), convProgram([dw]), convProgram([db])];
    if (!layer.first) programs.push(convProgram([dx]));
    const [convMs, gemmMs, forwardMs, weightGradMs, biasGradMs, inputGradMs = NaN] = await timePrograms(gpu, programs, rounds);

    const flop = 2 * P * Og * Kg * groups;
    const gf = (ms: number) => flop / ms / 1e6;
    const products = layer.first ? 2 : 3;
    rows.push({
      layer: layer.name,
      batch,
      gflop: flop / 1e9,
      forwardMs, inputGradMs, weightGradMs, biasGradMs,
      forwardGflops: gf(forwardMs),
      inputGradGflops: gf(inputGradMs),
      weightGradGflops: gf(weightGradMs),
      convGflops: (products * flop) / convMs / 1e6,
      gemmGflops: (products * flop) / gemmMs / 1e6,
      ratio: gemmMs / convMs,
    });
  }
  return rows;
}

const num = (digits: number) => (v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? '-' : fixed(digits)(v));

export function formatConvBench(rows: ConvBenchRow[]): string {
  return [
    `Convolution layers, batch ${rows[0]?.batch ?? '-'} (GFLOP/s per kernel; fwd+bwd = forward, input, weight and bias gradients;`,
    'first layers have no input gradient in training, so theirs is neither timed nor counted; ratio = fwd+bwd / same GEMMs)',
    formatTable([
      { key: 'layer', title: 'layer', align: 'left' },
      { key: 'forwardMs', title: 'fwd ms', format: num(1) },
      { key: 'inputGradMs', title: 'dx ms', format: num(1) },
      { key: 'weightGradMs', title: 'dw ms', format: num(1) },
      { key: 'biasGradMs', title: 'db ms', format: num(2) },
      { key: 'forwardGflops', title: 'fwd', format: num(2) },
      { key: 'inputGradGflops', title: 'dx', format: num(2) },
      { key: 'weightGradGflops', title: 'dw', format: num(2) },
      { key: 'convGflops', title: 'fwd+bwd', format: num(2) },
      { key: 'gemmGflops', title: 'same GEMMs', format: num(2) },
      { key: 'ratio', title: 'ratio', format: num(2) },
    ], rows as unknown as Record<string, unknown>[]),
  ].join('\n');
}

// `cgh bench --only gpu`: the paper's models and the comparison set at their real sizes, trained on random
// data with the step API as a training loop uses it (no wait per step: settle() lets the CPU run up to 4 steps
// ahead), and square GEMMs in NN, NT and TN. Meant for real GPUs; --quick shrinks every model and product so that
// the suite also runs (as a smoke test of the same code) on a CPU adapter. Figures only.
import type { Gpu } from '../../engine/gpu.js';
import { describePlans } from '../../engine/plans.js';
import { Rng } from '../../engine/random.js';
import { Trainer } from '../../engine/trainer.js';
import { timeDispatches, byKernel } from '../../engine/profile.js';
import { createModel } from '../../models/registry.js';
import { formatTable, fixed } from '../table.js';
import { benchGemm, formatGemmBench, GemmShape } from './gemm.js';
import { productFlops } from './models.js';

interface GpuModel { label: string; name: string; input: [number, number, number]; batch: number; classes: number; width?: number; hidden?: number[] }

/** The table: the paper's ImageNet models, ResNet-32 on CIFAR, the small CNN and the MLP 784-1024-1024-10. */
export const GPU_MODELS: GpuModel[] = [
  { label: 'ResNet-18 224²', name: 'resnet18', input: [3, 224, 224], batch: 64, classes: 1000 },
  { label: 'VGG-13-BN 224²', name: 'vgg13_bn', input: [3, 224, 224], batch: 32, classes: 1000 },
  { label: 'Inception-V3 299²', name: 'inception_v3', input: [3, 299, 299], batch: 32, classes: 1000 },
  { label: 'ResNet-32 CIFAR 32²', name: 'resnet32', input: [3, 32, 32], batch: 128, classes: 10 },
  { label: 'small CNN 28²', name: 'small-cnn', input: [1, 28, 28], batch: 128, classes: 10 },
  { label: 'MLP 784-1024-1024-10', name: 'mlp', input: [1, 28, 28], batch: 128, classes: 10, hidden: [1024, 1024] },
];

/** --quick: every model at 1/8 width on a small input and batch, the GEMMs at 128 and 256. */
function quickModel(m: GpuModel): GpuModel {
  const side = m.name === 'inception_v3' ? 75 : Math.min(m.input[1], 32);
  const label = `${m.label} (quick: width 1/8, ${side}², batch 4)`;
  return { ...m, label, input: [m.input[0], side, side], batch: 4, width: 0.125, classes: Math.min(m.classes, 10) };
}

export interface GpuModelRow {
  model: string;
  batch: number;
  examplesPerSecond: number;
  tflops: number;
  dispatches: number;
  /** Main-thread milliseconds per step spent outside the GPU: upload, encoding and submission (step()). */
  hostMs: number;
  stepMs: number;
  /** With --profile: the GPU time of the step's dispatches, each timed alone, and the kernels taking the most of it. */
  profile?: { kernelMs: number; top: { kernel: string; ms: number; count: number }[] };
}

export async function benchGpuModels(gpu: Gpu, opts: { quick?: boolean; seconds?: number; profile?: boolean } = {}): Promise<GpuModelRow[]> {
  const seconds = opts.seconds ?? (opts.quick ? 2 : 10);
  const rng = new Rng(3);
  const rows: GpuModelRow[] = [];
  for (const spec of GPU_MODELS) {
    const m = opts.quick ? quickModel(spec) : spec;
    const B = m.batch;
    const model = createModel(m.name, { inputShape: m.input, numClasses: m.classes, width: m.width ?? 1, hidden: m.hidden, rng: rng.fork() });
    const trainer = new Trainer(gpu, model, { batchSize: B, sgd: { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 } });
    const size = m.input[0] * m.input[1] * m.input[2];
    const images = Float32Array.from({ length: B * size }, () => rng.normal());
    const labels = Int32Array.from({ length: B }, () => rng.int(m.classes));
    let step = 0;
    // Warm-up: compiles the pipelines and teaches gpu.idle() the step time.
    for (let i = 0; i < 3; i++) { trainer.step(images, labels, step++, 0.01); await trainer.takeMetrics(); }
    const t0 = performance.now();
    trainer.step(images, labels, step++, 0.01);
    await trainer.takeMetrics();
    const single = performance.now() - t0;
    const steps = Math.max(3, Math.min(500, Math.round((seconds * 1000) / single)));
    let host = 0;
    const start = performance.now();
    for (let i = 0; i < steps; i++) {
      const h = performance.now();
      trainer.step(images, labels, step++, 0.01);
      host += performance.now() - h;
      await trainer.settle(4);
    }
    await trainer.takeMetrics();
    const stepMs = (performance.now() - start) / steps;
    const flop = trainer.train.program.order.reduce((s, n) => s + productFlops(n), 0);
    let profile: GpuModelRow['profile'];
    if (opts.profile) {
      const times = await timeDispatches(gpu, trainer.stepDispatches);
      profile = { kernelMs: times.reduce((a, t) => a + t.ms, 0), top: byKernel(times).slice(0, 6) };
    }
    rows.push({
      model: m.label, batch: B, examplesPerSecond: (B * 1000) / stepMs, tflops: flop / stepMs / 1e9,
      dispatches: trainer.dispatchesPerStep, hostMs: host / steps, stepMs, profile,
    });
  }
  return rows;
}

export function gpuGemmShapes(quick = false): GemmShape[] {
  const shapes: GemmShape[] = [];
  for (const s of quick ? [128, 256] : [1024, 2048, 4096]) {
    for (const [transA, transB, op] of [[false, false, 'NN'], [false, true, 'NT'], [true, false, 'TN']] as const) {
      shapes.push({ name: `${op} ${s}`, M: s, N: s, K: s, transA, transB });
    }
  }
  return shapes;
}

/** Where each model's step spends its GPU time (--profile): the kernels' sum against the step, then the largest kernels. */
export function formatProfiles(rows: GpuModelRow[]): string[] {
  const lines = ['GPU time per step by kernel (--profile: each dispatch timed alone in a pass of its own, fastest of 3 runs;',
    'kernels = their sum, against the step time above, so the difference is time between kernels and pass boundaries):'];
  for (const r of rows) {
    if (!r.profile) continue;
    const { kernelMs, top } = r.profile;
    const share = (ms: number) => `${Math.round((100 * ms) / kernelMs)}%`;
    lines.push(`  ${r.model}: kernels ${fixed(2)(kernelMs)} ms of a ${fixed(2)(r.stepMs)} ms step; `
      + top.map((k) => `${k.kernel} ${fixed(2)(k.ms)} ms ${share(k.ms)} (${k.count})`).join(', '));
  }
  return lines;
}

export async function benchGpu(gpu: Gpu, opts: { quick?: boolean; profile?: boolean } = {}): Promise<string> {
  const models = await benchGpuModels(gpu, opts);
  const gemm = await benchGemm(gpu, { shapes: gpuGemmShapes(opts.quick), rounds: opts.quick ? 1 : 3, ms: opts.quick ? 50 : 300 });
  return [
    `kernel plans: ${describePlans(gpu.plans)} (CGH_PLANS forces them)`,
    'Training on random data, SGD with momentum, f32; step = forward, backward, update, metric sums (one command buffer),',
    'the loop running up to 4 steps ahead of the GPU as a training loop does.',
    formatTable([
      { key: 'model', title: 'model', align: 'left' },
      { key: 'batch', title: 'batch' },
      { key: 'examplesPerSecond', title: 'examples/s', format: fixed(1) },
      { key: 'stepMs', title: 'step ms', format: fixed(2) },
      { key: 'tflops', title: 'TFLOP/s' },
      { key: 'dispatches', title: 'dispatches/step' },
      { key: 'hostMs', title: 'host ms/step', format: fixed(2) },
    ], models as unknown as Record<string, unknown>[]),
    'TFLOP/s counts convolutions (forward and both gradients) and matrix products only. host ms/step: main-thread time',
    'in step() (upload, encoding, submission), i.e. time spent outside the GPU.',
    ...(opts.profile ? ['', ...formatProfiles(models)] : []),
    '',
    formatGemmBench(gemm),
  ].join('\n');
}

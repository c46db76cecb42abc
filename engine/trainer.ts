import { Gpu, Dispatch, words } from './gpu.js';
import { isCpuAdapter } from './plans.js';
import { Graph, Node, Parameter } from './graph.js';
import { Program } from './program.js';
import { gradients } from './autograd.js';
import { crossEntropy, correct } from './ops/loss.js';
import { mean } from './ops/reduce.js';
import { correctTopK } from './ops/topk.js';
import { Sgd, SgdOptions, GradientTransform, GradSlot, SumGroups } from './optim.js';
import { PixelUpload } from './ops/normalize-pixels.js';
import { inputBatches, type Inputs, type Split } from './data/dataset.js';

/** A network: its parameters (in PyTorch's order and names) and a forward graph builder for any batch size (models/ implement it). */
export interface Network {
  /** Input shape of one example, e.g. [1, 28, 28]. */
  readonly inputShape: number[];
  readonly numClasses: number;
  /** Trainable tensors, named like PyTorch's state_dict (`layers.0.weight`). */
  parameters(): Parameter[];
  /** Non-trainable state saved in checkpoints (batch-norm running statistics). */
  buffers(): Parameter[];
  /** Logits [B, numClasses] from x [B, ...inputShape]; graph.mode says train or eval. */
  forward(g: Graph, x: Node): Node;
}

export interface TrainerOptions {
  batchSize: number;
  sgd: SgdOptions;
  transform?: GradientTransform;
  evalBatchSize?: number;
  /** settle() keeps steps queued while it waits (default: on every adapter but a CPU one; tests force either). */
  pipelined?: boolean;
}

export interface EpochMetrics { loss: number; accuracy: number; examples: number; nonFiniteStep: number | null }
/** Means over the evaluated examples; top5 is 1 when the model has 5 classes or fewer. Per-example values on request. */
export interface Evaluation { loss: number; accuracy: number; top5: number; losses?: Float32Array; correct?: Uint8Array; correct5?: Uint8Array }

export class NonFiniteLossError extends Error {}

/** A checkpoint tensor's float32 values; `dtype` I64 asks for int64 storage (PyTorch's counters). */
export interface StateTensor { name: string; shape: number[]; data: Float32Array; dtype: 'F32' | 'I64' }

interface Forward { program: Program; x: Node; y: Node; losses: Node; correct: Node }
interface EvalForward extends Forward { correct5: Node }

/**
 * A training step recorded once (forward, backward, gradient transform, update, metrics) and replayed
 * as one command buffer per step; metrics stay on the GPU until `takeMetrics`.
 *
 * The step API never waits for the GPU: `step` uploads the batch (queue-ordered behind the step in flight, whose
 * inputs it therefore cannot disturb; the caller may refill its arrays at once) and submits. A loop calls
 * `settle(maxAhead)` after a step, which waits only when more than `maxAhead` steps are unawaited, and reads numbers
 * only where it needs them: `takeMetrics` (the loss and accuracy sums since the last read) at logging points and
 * epoch ends.
 */
export class Trainer {
  readonly train: Forward;
  readonly sgd: Sgd;
  readonly transform: GradientTransform;
  private readonly metricsAcc: GPUBuffer;
  private readonly metricsUniform: GPUBuffer;
  private readonly metricsDispatch: Dispatch;
  private readonly evalPrograms = new Map<number, EvalForward>();
  /** Per program: the pixel upload into its input, made on the first pixel batch (or again if the normalisation changes). */
  private readonly pixelUploads = new Map<Program, { key: string; upload: PixelUpload }>();
  private readonly stepWord = new Uint32Array(1);
  /** The step's dispatches after the program's: the update, then the metric sums. */
  private readonly tail: Dispatch[];
  /** Steps submitted since the last settle that waited (or the last metrics read). */
  private unawaited = 0;
  /** On GPUs: resolves when the work submitted up to the last settle that waited is done. */
  private fence: Promise<void> | null = null;
  /** GPUs keep steps queued while the CPU waits; a CPU adapter drains its queue instead (see settle). */
  private readonly pipelined: boolean;

  constructor(readonly gpu: Gpu, readonly net: Network, readonly opts: TrainerOptions) {
    this.transform = opts.transform ?? new SumGroups(1);
    this.pipelined = opts.pipelined ?? !isCpuAdapter(gpu.report);
    const B = opts.batchSize;
    const g = new Graph();
    g.plans = gpu.plans;
    g.gradGroups = this.transform.groups;
    const x = g.input('x', [B, ...net.inputShape]);
    const y = g.input('labels', [B], 'i32');
    const logits = net.forward(g, x);
    const losses = crossEntropy(logits, y);
    const right = correct(logits, y);
    const loss = mean(losses);
    const params = net.parameters();
    const paramNodes = params.map((p) => g.param(p));
    const grads = gradients(loss, paramNodes);
    const gradNodes = paramNodes.map((n) => grads.get(n)!);
    const attached = this.transform.attach?.(g, params.map((p, i) => ({ param: p, node: paramNodes[i], grad: gradNodes[i] }))) ?? { keep: [], unread: [] };
    const unread = new Set(attached.unread);
    const program = new Program(gpu, g, [losses, right, ...gradNodes.filter((_, i) => !unread.has(params[i])), ...attached.keep]);
    this.train = { program, x, y, losses, correct: right };
    const separate = this.transform.groups > 1 || !!this.transform.needsOut;
    const slots: GradSlot[] = params.map((p, i) => {
      const raw = program.buf(gradNodes[i]);
      return { param: p, node: paramNodes[i], raw, out: separate ? gpu.buffer(p.size, `${p.name}.grad`) : raw, size: p.size };
    });
    this.sgd = new Sgd(gpu, slots, opts.sgd, this.transform, program);
    this.metricsAcc = gpu.buffer(4, 'metrics');
    this.metricsUniform = gpu.uniform(words([B, 0, 0, 0]));
    this.metricsDispatch = gpu.dispatch(gpu.kernel('metrics'), [this.metricsUniform, program.buf(losses), program.buf(right), this.metricsAcc], [1, 1, 1]);
    this.tail = [...this.sgd.dispatches, this.metricsDispatch];
  }

  /** One training step's dispatches as step() submits them, less a pixel batch's normalisation (for timing each one). */
  get stepDispatches(): Dispatch[] {
    return [...this.train.program.dispatches, ...this.tail];
  }

  /** Compute dispatches in one training step's command buffer (one more once pixel batches are normalised on the GPU). */
  get dispatchesPerStep(): number {
    return this.stepDispatches.length + (this.pixelUploads.has(this.train.program) ? 1 : 0);
  }

  /**
   * Upload a batch and submit one step; `step` is the global step index (0-based). Does not wait. Pixels are uploaded
   * as bytes and normalised by the step's first dispatch.
   */
  step(inputs: Inputs, labels: Int32Array, step: number, lr: number): void {
    const { program, x, y } = this.train;
    const first = this.upload(program, x, inputs);
    program.write(y, labels);
    this.stepWord[0] = step;
    this.gpu.device.queue.writeBuffer(this.metricsUniform, 4, this.stepWord);
    this.sgd.prepare(step, lr, step === 0);
    program.run(this.tail, first);
    this.unawaited++;
  }

  /** Writes the inputs into x: float32 as they are; pixels as bytes, returning the dispatch that normalises them into x. */
  private upload(program: Program, x: Node, inputs: Inputs): Dispatch[] {
    if (inputs instanceof Float32Array) { program.write(x, inputs); return []; }
    const key = JSON.stringify([inputs.mean, inputs.std]);
    let u = this.pixelUploads.get(program);
    if (u?.key !== key) {
      const [C, ...rest] = this.net.inputShape;
      u = { key, upload: new PixelUpload(this.gpu, program.buf(x), x.size, C, rest.reduce((a, b) => a * b, 1), inputs) };
      this.pixelUploads.set(program, u);
    }
    u.upload.write(inputs.bytes);
    return [u.upload.dispatch];
  }

  /**
   * Bounds how far the CPU runs ahead of the GPU; no number is read back. Returns at once while at most `maxAhead`
   * steps are unawaited. Beyond that, on a GPU it waits only for the work submitted up to the previous such wait, so
   * the steps since then stay queued and the GPU never runs dry (at most about 2·maxAhead + 1 steps in flight);
   * on a CPU adapter it waits for all of it (gpu.idle sleeps instead of polling a pending promise, which would take a
   * core from the adapter's own threads).
   */
  async settle(maxAhead = 4): Promise<void> {
    if (this.unawaited <= maxAhead) return;
    this.unawaited = 0;
    if (!this.pipelined) { await this.gpu.idle(); return; }
    const previous = this.fence;
    this.fence = this.gpu.fence();
    this.fence.catch(() => {}); // a fence nobody awaits any more (a stopped run) must not crash the process; awaiters still see errors
    await previous;
  }

  /**
   * The raw sums behind takeMetrics as they stand, without a reset (waits for the GPU): a checkpoint inside an
   * epoch keeps them so that the resumed sums round exactly as the uninterrupted ones.
   */
  async metricSums(): Promise<number[]> {
    return [...(await this.readSums())];
  }

  /** Puts back sums that metricSums returned. */
  loadMetricSums(sums: number[]): void {
    if (sums.length !== 4 || !sums.every(Number.isFinite)) throw new Error(`metric sums are 4 finite numbers, got ${JSON.stringify(sums)}`);
    this.gpu.write(this.metricsAcc, Float32Array.from(sums));
  }

  /** Training metrics accumulated since the last call (waits for the GPU), then reset. */
  async takeMetrics(): Promise<EpochMetrics> {
    const m = await this.peekMetrics();
    this.gpu.write(this.metricsAcc, new Float32Array(4));
    return m;
  }

  /** The metrics takeMetrics would return, without resetting them (waits for the GPU). */
  async peekMetrics(): Promise<EpochMetrics> {
    const a = await this.readSums();
    return { loss: a[0] / Math.max(1, a[2]), accuracy: a[1] / Math.max(1, a[2]), examples: a[2], nonFiniteStep: a[3] > 0 ? a[3] - 1 : null };
  }

  /** The metric sums [loss, right, examples, 1 + the first non-finite step or 0], once the GPU has done every step. */
  private async readSums(): Promise<Float32Array> {
    const fence = this.fence;
    this.fence = null;
    const a = (await this.gpu.read(this.metricsAcc, 4)) as Float32Array;
    await fence;
    this.unawaited = 0;
    return a;
  }

  /**
   * Every tensor a checkpoint needs, copied to the CPU: parameters and model buffers (PyTorch names),
   * momentum buffers (`<name>.momentum_buffer`, only with momentum) and the gradient transform's state.
   */
  async stateTensors(): Promise<StateTensor[]> {
    const out: StateTensor[] = [];
    for (const e of this.stateEntries()) {
      out.push({ name: e.name, shape: e.shape, data: (await this.gpu.read(e.buffer, e.size)) as Float32Array, dtype: e.dtype });
    }
    return out;
  }

  /** Restore what `stateTensors` saved; every expected tensor must be present with its shape. */
  loadStateTensors(tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    const expected = this.stateEntries();
    for (const e of expected) {
      const t = tensors.get(e.name);
      if (!t) throw new Error(`the checkpoint has no tensor ${e.name} [${e.shape}]; it was written for another model or optimizer`);
      if (t.data.length !== e.size || t.shape.join() !== e.shape.join()) {
        throw new Error(`the checkpoint's ${e.name} has shape [${t.shape}] where the model has [${e.shape}]; it was written for another model`);
      }
      this.gpu.write(e.buffer, t.data);
    }
    const known = new Set(expected.map((e) => e.name));
    const extra = [...tensors.keys()].filter((n) => !known.has(n));
    if (extra.length > 0) {
      const named = extra.slice(0, 3).map((n) => `${n} [${tensors.get(n)!.shape}]`).join(', ');
      throw new Error(`the checkpoint holds tensors this trainer does not have (${named}${extra.length > 3 ? `, and ${extra.length - 3} more` : ''}); it `
        + `was written for another model or optimizer`);
    }
  }

  private stateEntries(): { name: string; shape: number[]; size: number; buffer: GPUBuffer; dtype: 'F32' | 'I64' }[] {
    const entries = [...this.net.parameters(), ...this.net.buffers()].map((p) => ({ name: p.name, shape: p.shape, size: p.size, buffer: p.ensure(this.gpu),
      dtype: p.safetensorsDtype }));
    if (this.opts.sgd.momentum !== 0) {
      this.sgd.slots.forEach((s, i) => entries.push({ name: `${s.param.name}.momentum_buffer`, shape: s.param.shape, size: s.size,
        buffer: this.sgd.momentumBuffers[i], dtype: 'F32' }));
    }
    for (const t of this.transform.state?.() ?? []) entries.push({ name: t.name, shape: [t.size], size: t.size, buffer: t.buffer, dtype: 'F32' });
    return entries;
  }

  private evalProgram(B: number): EvalForward {
    let f = this.evalPrograms.get(B);
    if (f) return f;
    const g = new Graph();
    g.plans = this.gpu.plans;
    g.mode = 'eval';
    const x = g.input('x', [B, ...this.net.inputShape]);
    const y = g.input('labels', [B], 'i32');
    const logits = this.net.forward(g, x);
    const losses = crossEntropy(logits, y);
    const right = correct(logits, y);
    const right5 = correctTopK(logits, y, 5);
    f = { program: new Program(this.gpu, g, [losses, right, right5]), x, y, losses, correct: right, correct5: right5 };
    this.evalPrograms.set(B, f);
    return f;
  }

  /**
   * Mean loss, accuracy and top-5 accuracy over a split in eval mode, or over its examples `indices` (read batch by
   * batch, so a streamed split is never held whole); `labels` (indexed like the split) replace the split's own.
   * `signal` is checked between batches: an aborted one stops the evaluation with its reason.
   */
  async evaluate(split: Split, opts: { perExample?: boolean; labels?: Int32Array; indices?: Int32Array; signal?: AbortSignal;
    /** Awaited between batches: a pending promise pauses the evaluation there (the page's Stop). */
    gate?: () => Promise<void> | void;
    /** Called after each batch with its number of examples (progress through a long evaluation). */
    onBatch?: (examples: number) => void } = {}): Promise<Evaluation> {
    const n = opts.indices ? opts.indices.length : split.n;
    const E = Math.min(n, this.opts.evalBatchSize ?? 1000);
    const all = opts.labels ?? split.labels;
    const labels = opts.indices ? Int32Array.from(opts.indices, (i) => all[i]) : all;
    const losses = new Float32Array(n);
    const right = new Uint8Array(n);
    const right5 = new Uint8Array(n);
    let lossSum = 0, rightSum = 0, right5Sum = 0;
    for await (const { inputs, start, size: B } of inputBatches(split, E, opts.indices ?? null)) {
      opts.signal?.throwIfAborted();
      await opts.gate?.();
      const f = this.evalProgram(B);
      const first = this.upload(f.program, f.x, inputs);
      f.program.write(f.y, labels.subarray(start, start + B));
      f.program.run([], first);
      const l = (await f.program.read(f.losses)) as Float32Array;
      const c = (await f.program.read(f.correct)) as Float32Array;
      const c5 = (await f.program.read(f.correct5)) as Float32Array;
      for (let i = 0; i < B; i++) {
        losses[start + i] = l[i];
        right[start + i] = c[i];
        right5[start + i] = c5[i];
        lossSum += l[i];
        rightSum += c[i];
        right5Sum += c5[i];
      }
      opts.onBatch?.(B);
    }
    const out: Evaluation = { loss: lossSum / n, accuracy: rightSum / n, top5: right5Sum / n };
    if (opts.perExample) { out.losses = losses; out.correct = right; out.correct5 = right5; }
    return out;
  }
}

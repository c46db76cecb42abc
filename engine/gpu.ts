import { parseBindings, BindingDecl } from './wgsl.js';
import { shaders } from '../shaders/index.js';
import type { AdapterReport } from './device.js';
import { choosePlans, Plans } from './plans.js';

/** A compiled compute pipeline with its explicit layout. */
export interface Kernel { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; bindings: BindingDecl[]; label: string }

/** One recorded dispatch: pipeline, bind group and grid, created once and replayed every step. */
export interface Dispatch { kernel: Kernel; bindGroup: GPUBindGroup; grid: [number, number, number]; label: string }

export type Constants = Record<string, number | boolean>;

const STORAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST

/**
 * The engine's handle on a device: caches pipelines by shader and constants, creates buffers
 * and dispatches, and waits for the GPU without busy-polling.
 */
/** WGSL source with a name for labels and caching (names must be unique across shaders). */
export interface Shader { readonly name: string; readonly code: string }

export class Gpu {
  private kernels = new Map<string, Kernel>();
  /** Milliseconds per submission of each kind of work, used to sleep instead of spinning on a pending promise. */
  private msPerRun = new Map<string, number>();
  private pending = new Map<string, number>();
  private pendingSince = 0;
  bytesAllocated = 0;
  /** The kernel families ops compile to; set before building programs (tests force them with choosePlans). */
  plans: Plans;
  private placeholders = new Map<string, GPUBuffer>();

  /** The first uncaptured GPU error; raised at the next wait so that no result is silently wrong. */
  private error: string | null = null;

  constructor(readonly device: GPUDevice, readonly report: AdapterReport) {
    this.plans = choosePlans(report, device.features as ReadonlySet<string>);
    device.addEventListener?.('uncapturederror', (e: any) => {
      this.error ??= String(e.error?.message ?? e).split('\n')[0];
    });
  }

  private raise(): void {
    if (this.error) {
      const message = this.error;
      this.error = null;
      throw new GpuError(`GPU error: ${message}`);
    }
  }

  /**
   * The kernel for an entry point of a shader, specialised by override constants: an engine shader by its file
   * name in shaders/, or a Shader a caller brings (a gradient rule's kernels, imported from beside the rule).
   */
  kernel(shader: string | Shader, entry = 'main', constants: Constants = {}): Kernel {
    const name = typeof shader === 'string' ? shader : shader.name;
    const key = `${name}:${entry}:${JSON.stringify(constants)}`;
    let k = this.kernels.get(key);
    if (k) return k;
    const code = typeof shader === 'string' ? shaders[shader] : shader.code;
    if (code === undefined) throw new Error(`no shader named ${name} in shaders/`);
    const module = this.device.createShaderModule({ code, label: name });
    const bindings = parseBindings(code);
    const layout = this.device.createBindGroupLayout({
      label: name,
      entries: bindings.map((b) => ({
        binding: b.binding,
        visibility: 4, // GPUShaderStage.COMPUTE
        buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' } as GPUBufferBindingLayout,
      })),
    });
    const constantValues: Record<string, number> = {};
    for (const [c, v] of Object.entries(constants)) constantValues[c] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry, constants: constantValues },
    });
    k = { pipeline, layout, bindings, label: key };
    this.kernels.set(key, k);
    return k;
  }

  /** A storage buffer of `count` 4-byte elements, optionally filled. */
  buffer(count: number, label = '', data?: Float32Array | Int32Array | Uint32Array): GPUBuffer {
    const size = Math.max(16, Math.ceil((count * 4) / 16) * 16);
    const buf = this.device.createBuffer({ size, usage: STORAGE, label });
    this.bytesAllocated += size;
    if (data) this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /**
   * A 16-byte storage buffer for a binding a kernel declares but the dispatch does not use. A buffer bound writable may
   * not be bound again in the same dispatch, so each unused writable binding names a `role` of its own.
   */
  unused(role = ''): GPUBuffer {
    let b = this.placeholders.get(role);
    if (!b) this.placeholders.set(role, (b = this.buffer(4, role ? `unused ${role}` : 'unused')));
    return b;
  }

  /** A uniform buffer holding `words` (each a u32 or f32, as typed by the caller's view). */
  uniform(words: ArrayBuffer, label = ''): GPUBuffer {
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    const buf = this.device.createBuffer({ size, usage: 0x0040 | 0x0008, label }); // UNIFORM | COPY_DST
    this.device.queue.writeBuffer(buf, 0, words);
    return buf;
  }

  /** A dispatch of `kernel` over `grid` workgroups with buffers bound in binding order. */
  dispatch(kernel: Kernel, buffers: GPUBuffer[], grid: [number, number, number] | number[], label = kernel.label): Dispatch {
    if (buffers.length !== kernel.bindings.length) {
      throw new Error(`${label}: kernel declares ${kernel.bindings.length} bindings but ${buffers.length} buffers were given`);
    }
    const limit = this.device.limits.maxStorageBufferBindingSize;
    const big = buffers.find((b) => b.size > limit && (b.usage & 0x0080) !== 0); // STORAGE
    if (big) {
      const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
      throw new Error(`${big.label || label} needs ${mib(big.size)} in one storage binding, more than the ${mib(limit)} that this adapter `
        + `(${this.report.name}) allows; use a smaller model width or input, or an adapter with a larger limit (a GPU)`);
    }
    const bindGroup = this.device.createBindGroup({
      layout: kernel.layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const g = [grid[0] ?? 1, grid[1] ?? 1, grid[2] ?? 1] as [number, number, number];
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (g.some((v) => v > max)) throw new Error(`${label}: grid ${g.join('x')} exceeds ${max} workgroups per dimension`);
    return { kernel, bindGroup, grid: g, label };
  }

  /** Record dispatches into one compute pass. */
  static encode(pass: GPUComputePassEncoder, list: Dispatch[]): void {
    for (const d of list) {
      if (d.grid[0] === 0 || d.grid[1] === 0 || d.grid[2] === 0) continue;
      pass.setPipeline(d.kernel.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
    }
  }

  /** Submit dispatches as one command buffer. `key` names the kind of work, for the sleep-before-wait estimate. */
  submit(list: Dispatch[], key = '', extra?: (enc: GPUCommandEncoder) => void): void {
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    Gpu.encode(pass, list);
    pass.end();
    extra?.(enc);
    this.device.queue.submit([enc.finish()]);
    if (this.pending.size === 0) this.pendingSince = now();
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /**
   * Wait until submitted work is done. A pending promise makes Dawn poll on the main thread and steal
   * a core from a CPU adapter, so first sleep for the expected remaining time, then await once.
   */
  async idle(): Promise<void> {
    let expected = 0;
    for (const [key, count] of this.pending) expected += count * (this.msPerRun.get(key) ?? 0);
    expected -= now() - this.pendingSince;
    const slept = expected > 2;
    if (slept) await sleep(expected * 0.9);
    const woke = now();
    await this.device.queue.onSubmittedWorkDone();
    this.raise();
    if (this.pending.size === 1) {
      // Learn only from waits on one kind of work; lean low, since oversleeping costs more than spinning.
      const [[key, count]] = [...this.pending];
      let per = (now() - this.pendingSince) / count;
      // Work already done on waking means the sleep was too long and `per` only bounds the time from
      // above (a first run that compiled pipelines can inflate the estimate many times): halve it.
      if (slept && now() - woke < 1) per /= 2;
      const old = this.msPerRun.get(key);
      this.msPerRun.set(key, old === undefined || per < old ? per : 0.8 * old + 0.2 * per);
    }
    this.pending.clear();
  }

  /**
   * Resolves when the work submitted so far is done, without draining later submissions (unlike idle). A pending
   * fence makes Dawn in Node poll on the main thread: for GPUs, where that costs a spare core; CPU adapters use idle.
   */
  async fence(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.raise();
  }

  /** Copy a buffer's first `count` elements back to the CPU. */
  async read(buf: GPUBuffer, count: number, type: 'f32' | 'i32' | 'u32' = 'f32', offsetElems = 0): Promise<Float32Array | Int32Array | Uint32Array> {
    const bytes = count * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, offsetElems * 4, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await this.idle();
    await staging.mapAsync(1); // GPUMapMode.READ
    const copy = staging.getMappedRange().slice(0, bytes); // the staging buffer is 4 bytes at least, even for none
    staging.unmap();
    staging.destroy();
    return type === 'f32' ? new Float32Array(copy) : type === 'i32' ? new Int32Array(copy) : new Uint32Array(copy);
  }

  write(buf: GPUBuffer, data: Float32Array | Int32Array | Uint32Array, offsetElems = 0): void {
    this.device.queue.writeBuffer(buf, offsetElems * 4, data.buffer, data.byteOffset, data.byteLength);
  }
}

export class GpuError extends Error {}

function now(): number { return performance.now(); }
function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** Pack mixed u32/f32 uniform words: numbers are u32 unless wrapped by f32(). */
export class F32 { constructor(readonly v: number) {} }
export const f32 = (v: number) => new F32(v);
export function words(values: (number | F32)[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((values.length * 4) / 16) * 16));
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  values.forEach((v, i) => {
    if (v instanceof F32) f[i] = v.v;
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform word ${i} = ${v} is not a u32`);
      u[i] = v;
    }
  });
  return buf;
}

/**
 * Acquires a GPUDevice from Dawn in Node (npm `webgpu`) or from `navigator.gpu` in a browser,
 * and describes the adapter. Fails with one line naming the fix when there is no adapter.
 */
export class DeviceError extends Error {}

export interface AdapterReport {
  name: string;
  vendor: string;
  architecture: string;
  backend: string;
  /** The adapter's optional WebGPU features (subgroups, shader-f16, ...), sorted. */
  features: string[];
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeInvocationsPerWorkgroup: number; maxComputeWorkgroupStorageSize: number };
}

export interface AcquiredDevice { device: GPUDevice; adapter: GPUAdapter; report: AdapterReport }

/** Dawn's instance is destroyed when garbage-collected, which crashes the process later: keep it for life. */
let dawnInstance: GPU | null = null;

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as any).window === 'undefined';

async function gpuEntry(): Promise<GPU> {
  const nav = (globalThis as any).navigator;
  if (!isNode) {
    if (nav?.gpu) return nav.gpu as GPU;
    throw new DeviceError('this browser has no WebGPU (navigator.gpu is missing); use a recent Chrome or Edge, or Firefox/Safari with WebGPU enabled');
  }
  if (dawnInstance) return dawnInstance;
  const mod: any = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  // Dawn rounds timestamps to about 65 µs by default (a browser's guard against timing attacks), too coarse to time
  // one dispatch; a benchmark in Node has no such page to guard.
  dawnInstance = mod.create(['disable-dawn-features=timestamp_quantization']) as GPU;
  (globalThis as any).__cghDawnInstance = dawnInstance;
  return dawnInstance;
}

/** The apt source of Debian 12's newer Mesa; its own Mesa 22 is too old for Dawn. */
export const BOOKWORM_BACKPORTS = 'deb http://deb.debian.org/debian bookworm-backports main';

/**
 * GPU vendors present on a Linux machine: the loaded NVIDIA kernel driver, the DRM devices, and the PCI display
 * controllers (class 0x03…), which are listed even when no driver is loaded. CGH_SETUP_ROOT, a folder standing for /
 * (as for scripts/setup.sh), lets tests simulate a machine.
 */
async function gpuVendors(): Promise<string[]> {
  const fs = await import('node:fs');
  const root = process.env.CGH_SETUP_ROOT ?? '';
  const read = (f: string) => { try { return fs.readFileSync(f, 'utf8').trim(); } catch { return ''; } };
  const list = (d: string) => { try { return fs.readdirSync(d).map((e) => `${d}/${e}`); } catch { return []; } };
  const devices = [
    ...list(`${root}/sys/class/drm`).map((d) => `${d}/device`),
    ...list(`${root}/sys/bus/pci/devices`).filter((d) => read(`${d}/class`).startsWith('0x03')),
  ];
  const found = new Set<string>();
  if (fs.existsSync(`${root}/proc/driver/nvidia`)) found.add('NVIDIA');
  for (const d of devices) {
    const vendor = read(`${d}/vendor`);
    if (vendor === '0x10de') found.add('NVIDIA');
    if (vendor === '0x1002') found.add('AMD');
  }
  return [...found].sort();
}

async function noAdapterMessage(): Promise<string> {
  if (!isNode) return 'WebGPU found no adapter; enable hardware acceleration in the browser settings or try another browser';
  if (process.platform !== 'linux') return `no WebGPU adapter found on ${process.platform}; update the GPU driver (Vulkan, Metal or D3D12 is required)`;
  const vendors = await gpuVendors();
  if (vendors.length > 0) {
    // A software driver would hide a broken GPU set-up behind a 100x slower one, so Mesa's lavapipe is not suggested.
    const parts = vendors.includes('NVIDIA') ? "libglvnd or NVIDIA's Vulkan manifest nvidia_icd.json" : "Mesa's RADV driver";
    return `no WebGPU adapter found, though this machine has ${vendors.join(' and ')} GPU hardware: its Vulkan driver did not load; `
      + `bash scripts/setup.sh names what is missing (the Vulkan loader libvulkan.so.1, ${parts})`;
  }
  return 'no WebGPU adapter found; without a GPU, install Mesa\'s lavapipe (Mesa 24 or later): on Debian 12 add the line '
    + `'${BOOKWORM_BACKPORTS}' to /etc/apt/sources.list.d/bookworm-backports.list, then apt-get update `
    + '&& apt-get install -t bookworm-backports mesa-vulkan-drivers (bash scripts/setup.sh does this)';
}

async function candidateAdapters(gpu: GPU): Promise<GPUAdapter[]> {
  const found: GPUAdapter[] = [];
  const seen = new Set<string>();
  const options: GPURequestAdapterOptions[] = [{}, { powerPreference: 'high-performance' }, { powerPreference: 'low-power' }, { forceFallbackAdapter: true }];
  for (const o of options) {
    let a: GPUAdapter | null = null;
    try { a = await gpu.requestAdapter(o); } catch { a = null; }
    if (!a) continue;
    const key = describe(a).name + '|' + describe(a).backend;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push(a);
  }
  return found;
}

function describe(adapter: GPUAdapter): AdapterReport {
  const info: any = (adapter as any).info ?? {};
  const name = info.description || info.device || info.architecture || info.vendor || 'unknown adapter';
  const l = adapter.limits;
  return {
    name,
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    backend: (info as any).backendType || backendFromName(name),
    features: [...adapter.features].sort(),
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  };
}

function backendFromName(name: string): string {
  const n = name.toLowerCase();
  if (n.includes('vulkan') || n.includes('llvmpipe') || n.includes('lavapipe')) return 'vulkan';
  if (n.includes('swiftshader')) return 'vulkan (swiftshader)';
  return isNode ? 'dawn' : 'browser';
}

/** Acquire a device; `adapterName` picks the adapter whose name contains it (case-insensitive). */
export async function acquireDevice(opts: { adapterName?: string } = {}): Promise<AcquiredDevice> {
  const gpu = await gpuEntry();
  const adapters = await candidateAdapters(gpu);
  if (adapters.length === 0) throw new DeviceError(await noAdapterMessage());
  let adapter = adapters[0];
  if (opts.adapterName) {
    const want = opts.adapterName.toLowerCase();
    const match = adapters.find((a) => describe(a).name.toLowerCase().includes(want) || describe(a).vendor.toLowerCase().includes(want));
    if (!match) {
      throw new DeviceError(`no adapter name contains "${opts.adapterName}"; available: ${adapters.map((a) => describe(a).name).join(', ')}`);
    }
    adapter = match;
  }
  const l = adapter.limits;
  // Only features the engine uses, and only where offered (a device without them gets the fallbacks): subgroups for
  // kernels, timestamp queries for timing each dispatch (engine/profile.ts).
  const requiredFeatures = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  return { device, adapter, report: describe(adapter) };
}

/** Every adapter the platform offers, for `cgh adapters`. */
export async function listAdapters(): Promise<AdapterReport[]> {
  const gpu = await gpuEntry();
  return (await candidateAdapters(gpu)).map(describe);
}

import { Gpu, GpuError, type Dispatch } from './gpu.js';

/** One dispatch's GPU time: its label, its kernel (`shader:entry`) and the fastest of the rounds, in milliseconds. */
export interface DispatchTime { label: string; kernel: string; ms: number }

/** Timestamps a query set may hold (WebGPU's limit is 4096): two per dispatch. */
const QUERIES = 4096;

/**
 * The GPU time of every dispatch of `list`, each in a compute pass of its own with timestamps written at the pass's
 * beginning and end, in the list's order; the fastest of `rounds` runs of the whole list. The dispatches run as they
 * would in a step (a training step's update changes its parameters each round). Needs the `timestamp-query` feature.
 * Separate passes add the cost of a pass boundary between dispatches, so the sum is an upper bound on the busy time of
 * the same list in one pass; set against the step's wall time it shows how much of a step is not kernel work.
 */
export async function timeDispatches(gpu: Gpu, list: Dispatch[], rounds = 3): Promise<DispatchTime[]> {
  if (!gpu.device.features.has('timestamp-query')) {
    throw new GpuError(`the adapter ${gpu.report.name} does not offer the WebGPU feature 'timestamp-query', which timing each dispatch needs; `
      + 'run without --profile');
  }
  const best = new Array<number>(list.length).fill(Infinity);
  const perSet = QUERIES / 2;
  const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: QUERIES });
  const resolved = gpu.device.createBuffer({ size: QUERIES * 8, usage: 0x0200 | 0x0004 }); // QUERY_RESOLVE | COPY_SRC
  try {
    for (let r = 0; r < rounds; r++) {
      for (let start = 0; start < list.length; start += perSet) {
        const chunk = list.slice(start, start + perSet);
        const ns = await runTimed(gpu, chunk, querySet, resolved);
        chunk.forEach((_, i) => { best[start + i] = Math.min(best[start + i], ns[i] / 1e6); });
      }
    }
  } finally {
    querySet.destroy();
    resolved.destroy();
  }
  return list.map((d, i) => ({ label: d.label, kernel: d.kernel.label.split(':').slice(0, 2).join(':'), ms: best[i] }));
}

/** Runs each dispatch of `chunk` in a timestamped pass of its own; returns each one's nanoseconds (0 for an empty grid). */
async function runTimed(gpu: Gpu, chunk: Dispatch[], querySet: GPUQuerySet, resolved: GPUBuffer): Promise<number[]> {
  const enc = gpu.device.createCommandEncoder();
  chunk.forEach((d, i) => {
    const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    Gpu.encode(pass, [d]);
    pass.end();
  });
  const bytes = chunk.length * 16;
  const staging = gpu.device.createBuffer({ size: bytes, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
  enc.resolveQuerySet(querySet, 0, chunk.length * 2, resolved, 0);
  enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await gpu.idle();
  await staging.mapAsync(1); // GPUMapMode.READ
  const stamps = new BigInt64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return chunk.map((d, i) => (d.grid.some((v) => v === 0) ? 0 : Math.max(0, Number(stamps[2 * i + 1] - stamps[2 * i]))));
}

/** Kernel totals, largest first: milliseconds summed over a list's dispatches of each kernel, and how many there are. */
export function byKernel(times: DispatchTime[]): { kernel: string; ms: number; count: number }[] {
  const totals = new Map<string, { kernel: string; ms: number; count: number }>();
  for (const t of times) {
    const k = totals.get(t.kernel) ?? { kernel: t.kernel, ms: 0, count: 0 };
    k.ms += t.ms;
    k.count++;
    totals.set(t.kernel, k);
  }
  return [...totals.values()].sort((a, b) => b.ms - a.ms);
}

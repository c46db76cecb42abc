import { acquireDevice } from './device.js';
import { Gpu } from './gpu.js';

let shared: Promise<Gpu> | null = null;

/** The process-wide Gpu, acquired on first use (one device per process keeps pipelines cached). */
export function getGpu(opts: { adapterName?: string } = {}): Promise<Gpu> {
  if (!shared) shared = acquireDevice(opts).then(({ device, report }) => new Gpu(device, report));
  return shared;
}

import { acquireDevice } from './device.js';
import { Gpu } from './gpu.js';
import { choosePlans } from './plans.js';

let shared: Promise<Gpu> | null = null;

/** CGH_PLANS from the environment in Node (see choosePlans); none in a browser. */
function planSpec(): string {
  return typeof process !== 'undefined' ? (process.env?.CGH_PLANS ?? '') : '';
}

/** The process-wide Gpu, acquired on first use (one device per process keeps pipelines cached). */
export function getGpu(opts: { adapterName?: string } = {}): Promise<Gpu> {
  if (!shared) {
    shared = acquireDevice(opts).then(({ device, report }) => {
      const gpu = new Gpu(device, report);
      gpu.plans = choosePlans(report, device.features as ReadonlySet<string>, planSpec());
      return gpu;
    });
  }
  return shared;
}

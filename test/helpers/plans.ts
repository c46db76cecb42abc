import { getGpu } from '../../engine/context.js';
import { choosePlans } from '../../engine/plans.js';
import { tiledOverrides } from '../../engine/ops/matmul_tiled.js';
import type { GemmTile } from '../../engine/ops/gemm_tiles.js';

/**
 * Runs `fn` with programs compiled for the plans `spec` names (CGH_PLANS syntax), optionally on one tile shape and a
 * forced split-K, then restores the defaults: how the gpu plans are tested on a CPU adapter.
 */
export async function withPlans<T>(spec: string, fn: () => Promise<T>, force: { tile?: GemmTile; splits?: number } = {}): Promise<T> {
  const gpu = await getGpu();
  const old = gpu.plans;
  gpu.plans = choosePlans(gpu.report, gpu.device.features as ReadonlySet<string>, spec);
  Object.assign(tiledOverrides, force);
  try {
    return await fn();
  } finally {
    gpu.plans = old;
    delete tiledOverrides.tile;
    delete tiledOverrides.splits;
  }
}

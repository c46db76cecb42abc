import type { AdapterReport } from './device.js';

/**
 * Which family of kernels an op runs on. `lavapipe`: register tiles without workgroup memory, tuned for CPU adapters
 * (lavapipe, llvmpipe, SwiftShader), where barriers cost more than the loads they save. `gpu`: workgroup-memory
 * tiles, split-K and implicit-GEMM convolutions, for real GPUs. Both compute the same results up to rounding.
 */
export type PlanFamily = 'lavapipe' | 'gpu';
export const PLAN_FAMILIES: PlanFamily[] = ['lavapipe', 'gpu'];
/** The ops whose family can be chosen one by one. */
export const PLAN_OPS = ['matmul', 'conv'] as const;
export type PlanOp = (typeof PLAN_OPS)[number];

export interface Plans {
  matmul: PlanFamily;
  conv: PlanFamily;
  /** Wide softmax cross-entropy heads run on subgroup operations (the device has the `subgroups` feature). */
  subgroups: boolean;
  /** Largest workgroup memory a kernel may declare, in bytes. */
  workgroupBytes: number;
  /**
   * Fold bias adds, ReLUs and ReLU gradients into the pass of the op that produces their input (engine/fusion.ts): on
   * both families into the bias, batch-norm, add and concat-slice passes; on the gpu family also into the products' and
   * convolutions' stores.
   */
  fusion: boolean;
}

export class PlanError extends Error {}

/** CPU adapters, which the lavapipe family is tuned for. */
export function isCpuAdapter(r: Pick<AdapterReport, 'name' | 'architecture' | 'vendor'>): boolean {
  return /llvmpipe|lavapipe|swiftshader|software|cpu/i.test(`${r.name} ${r.architecture} ${r.vendor}`);
}

export function defaultFamily(r: Pick<AdapterReport, 'name' | 'architecture' | 'vendor'>): PlanFamily {
  return isCpuAdapter(r) ? 'lavapipe' : 'gpu';
}

/**
 * The plans for an adapter. `spec` (CGH_PLANS, or a test's option) forces them: a family for every op (`gpu`),
 * per op (`matmul=gpu,conv=lavapipe`), `subgroups` / `nosubgroups` and `fuse` / `nofuse`; unnamed ops keep the adapter's default.
 * A forced choice the device cannot run is a one-line PlanError naming what is missing.
 */
export function choosePlans(report: AdapterReport, deviceFeatures: ReadonlySet<string> | string[], spec = ''): Plans {
  const features = new Set(deviceFeatures);
  const family = defaultFamily(report);
  const plans: Plans = {
    matmul: family, conv: family,
    subgroups: family === 'gpu' && features.has('subgroups'),
    workgroupBytes: report.limits.maxComputeWorkgroupStorageSize,
    fusion: true,
  };
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [left, right] = raw.split('=').map((s) => s.trim());
    if (right === undefined && (left === 'fuse' || left === 'nofuse')) {
      plans.fusion = left === 'fuse';
      continue;
    }
    if (right === undefined && (left === 'subgroups' || left === 'nosubgroups')) {
      if (left === 'subgroups' && !features.has('subgroups')) {
        throw new PlanError(`CGH_PLANS asks for subgroups, but the adapter ${report.name} does not offer the WebGPU feature 'subgroups'; `
          + `remove 'subgroups' from CGH_PLANS`);
      }
      plans.subgroups = left === 'subgroups';
      continue;
    }
    const fam = (right ?? left) as PlanFamily;
    if (!PLAN_FAMILIES.includes(fam)) {
      const forms = `${PLAN_FAMILIES.join(' or ')}, per op as ${PLAN_OPS.join('=..,')}=.., subgroups/nosubgroups, or fuse/nofuse`;
      throw new PlanError(`CGH_PLANS: unknown plan family '${fam}'; use ${forms}`);
    }
    if (right !== undefined && !PLAN_OPS.includes(left as PlanOp)) {
      throw new PlanError(`CGH_PLANS: unknown op '${left}'; the ops with plans are ${PLAN_OPS.join(', ')}`);
    }
    const ops = right === undefined ? [...PLAN_OPS] : [left as PlanOp];
    for (const op of ops) plans[op] = fam;
  }
  if ((plans.matmul === 'gpu' || plans.conv === 'gpu') && plans.workgroupBytes < MIN_WORKGROUP_BYTES) {
    throw new PlanError(`the gpu plans need ${MIN_WORKGROUP_BYTES} bytes of workgroup memory, but the adapter ${report.name} offers ${plans.workgroupBytes}; `
      + 'use CGH_PLANS=lavapipe');
  }
  return plans;
}

/** The smallest tile (64x64, slices of 16, double-buffered) needs WebGPU's default limit. */
export const MIN_WORKGROUP_BYTES = 16384;

export function describePlans(p: Plans): string {
  const fam = p.matmul === p.conv ? p.matmul : `matmul ${p.matmul}, conv ${p.conv}`;
  return `${fam}${p.subgroups ? ' + subgroups' : ''}${p.fusion ? ' + fused epilogues' : ''}`;
}

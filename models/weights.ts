// Model weights by name: a safetensors file of a PyTorch state_dict (torchvision's, or a cgh checkpoint) loaded into a
// model's parameters and buffers, with one-line errors naming the tensor and the shapes when the file does not fit.
import type { Gpu } from '../engine/gpu.js';
import { asFloat32, decodeSafetensors, type LoadedTensor } from '../engine/safetensors.js';
import type { Model } from './model.js';

export class WeightsError extends Error {
  override name = 'WeightsError';
}

/**
 * Tensors a file may hold that the model does not use: a checkpoint's optimizer state and parts of a torchvision
 * model that ours leave out (Inception-V3's auxiliary classifier). Callers add the names of their own state
 * (a gradient rule's, per-example records).
 */
const IGNORED = [/\.momentum_buffer$/, /^AuxLogits\./];

const shapeText = (s: number[]) => `[${s.join(',')}]`;

/**
 * Checks every tensor of `tensors` against the model: each parameter and buffer must be present with its shape
 * (PyTorch's scalar [] and [1] are the same here), in F32, F64, I32 or I64; a tensor the model lacks is an error
 * unless IGNORED, and every value must be finite. Returns the float32 values by name, in the model's order; nothing is written to the GPU.
 */
export function matchWeights(model: Model, tensors: Map<string, LoadedTensor>, source: string, ignore: readonly RegExp[] = []): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const missing: string[] = [];
  for (const p of [...model.parameters(), ...model.buffers()]) {
    const t = tensors.get(p.name);
    if (!t) { missing.push(`${p.name} ${shapeText(p.shape)}`); continue; }
    const same = t.shape.join() === p.shape.join() || (p.size === 1 && t.shape.every((d) => d === 1));
    if (!same) {
      throw new WeightsError(`${source}: ${p.name} has shape ${shapeText(t.shape)} where ${model.name} has ${shapeText(p.shape)}; the file was saved for `
        + `another model, input size or width`);
    }
    const data = asFloat32(t);
    if (!data) throw new WeightsError(`${source}: ${p.name} is ${t.dtype}; save it as F32 (for example with tensor.float() before save_file)`);
    const bad = countNonFinite(data);
    if (bad > 0) {
      const what = bad === data.length ? `all ${bad} values` : `${bad} of its ${data.length} values`;
      const fix = 'the file is damaged or was saved from a diverged run, so use other weights';
      throw new WeightsError(`${source}: ${p.name} holds NaN or infinity in ${what}; ${fix}`);
    }
    out.set(p.name, data);
  }
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` and ${missing.length - 1} more` : '';
    throw new WeightsError(`${source} lacks ${missing[0]}${more} of ${model.name}; the file was saved for another model`);
  }
  const extra = [...tensors.keys()].filter((n) => !out.has(n) && ![...IGNORED, ...ignore].some((r) => r.test(n)));
  if (extra.length > 0) {
    const t = tensors.get(extra[0])!;
    const more = extra.length > 1 ? ` and ${extra.length - 1} more` : '';
    throw new WeightsError(`${source} holds ${extra[0]} ${shapeText(t.shape)}${more}, which ${model.name} does not have; the file was saved for another model`);
  }
  return out;
}

function countNonFinite(values: Float32Array): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) n++;
  return n;
}

/** Writes weights matched by matchWeights into the model's parameter and buffer storage on the GPU. */
export function writeWeights(gpu: Gpu, model: Model, tensors: Map<string, LoadedTensor>, source: string, ignore: readonly RegExp[] = []): void {
  const weights = matchWeights(model, tensors, source, ignore);
  for (const p of [...model.parameters(), ...model.buffers()]) gpu.write(p.ensure(gpu), weights.get(p.name)!);
}

/** Decodes a safetensors file's bytes and writes its weights into the model (see matchWeights). */
export function loadWeights(gpu: Gpu, model: Model, bytes: Uint8Array, source: string, ignore: readonly RegExp[] = []): void {
  writeWeights(gpu, model, decodeSafetensors(bytes, source).tensors, source, ignore);
}

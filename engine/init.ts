import { Rng } from './random.js';

/** A tensor too large for any device buffer; the message is one line naming the size and the fix. */
export class TensorSizeError extends Error {
  override name = 'TensorSizeError';
}

/** More values than this do not fit a WebGPU buffer on any adapter (4 GiB of float32), so they are refused before allocating. */
export const MAX_TENSOR_VALUES = 2 ** 30;

/** A zeroed array of n values, after checking that n is a size a device buffer can hold. */
export function initValues(n: number, what = 'a model tensor'): Float32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_TENSOR_VALUES) {
    const gib = (n * 4) / 2 ** 30;
    const size = `${n.toPrecision(4)} values (${gib.toPrecision(3)} GiB)`;
    throw new TensorSizeError(`${what} would hold ${size}, more than a GPU buffer can (${MAX_TENSOR_VALUES} values); use a smaller model (--hidden, --width)`);
  }
  return new Float32Array(n);
}

/** PyTorch's nn.Linear default: weight and bias uniform in ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)). */
export function uniformFanIn(rng: Rng, n: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const a = initValues(n);
  for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * bound;
  return a;
}

/** Normal with standard deviation `std`. */
export function normal(rng: Rng, n: number, std: number): Float32Array {
  const a = initValues(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return a;
}

/** The original Coherent Gradients MNIST code's weights: N(0, 1) * 2 / sqrt(fan_in + fan_out) (biases are zero). */
export function glorotNormalCG(rng: Rng, n: number, fanIn: number, fanOut: number): Float32Array {
  return normal(rng, n, 2 / Math.sqrt(fanIn + fanOut));
}

/** PyTorch's kaiming_normal_(mode='fan_out', nonlinearity='relu'), torchvision's choice for conv weights. */
export function kaimingNormalFanOut(rng: Rng, n: number, fanOut: number): Float32Array {
  return normal(rng, n, Math.sqrt(2 / fanOut));
}

export const zeros = (n: number) => initValues(n);
export const ones = (n: number) => initValues(n).fill(1);

export type InitScheme = 'pytorch' | 'glorot-cg';

import { Rng } from './random.js';

/** PyTorch's nn.Linear default: weight and bias uniform in ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)). */
export function uniformFanIn(rng: Rng, n: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * bound;
  return a;
}

/** Normal with standard deviation `std`. */
export function normal(rng: Rng, n: number, std: number): Float32Array {
  const a = new Float32Array(n);
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

export const zeros = (n: number) => new Float32Array(n);
export const ones = (n: number) => new Float32Array(n).fill(1);

export type InitScheme = 'pytorch' | 'glorot-cg';

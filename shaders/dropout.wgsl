// Dropout with a mask recomputed from a hash instead of stored: element i of step t is kept when
// hash(i, seed, t) >= threshold (threshold = p * 2^32), and kept values are scaled by 1 / (1 - p).
// The step counter lives on the GPU (State[0]) and is advanced by `advance` once per forward pass, so the
// mask changes every step without the CPU touching it; the backward pass applies the same mask to dy.

struct Params { n: u32, rowStride: u32, seed: u32, threshold: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
@group(0) @binding(3) var<storage, read_write> State: array<u32>;

// PCG-style integer hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(1)
fn advance() {
  State[0] = State[0] + 1u;
}

// Out = X * mask * scale; the same kernel gives the forward pass (X = x) and the backward pass (X = dy).
@compute @workgroup_size(64)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let key = pcg(p.seed ^ pcg(State[0]));
  let keep = pcg(i + key) >= p.threshold;
  Out[i] = select(0.0, X[i] * p.scale, keep);
}

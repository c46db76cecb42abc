// Coordinate-wise medians of K gradients for the M3 rules (experiments/rules/m3.ts and serial-m3.ts).
// K odd: the middle value; K even: the mean of the two middle values. K is an override constant, so the
// odd-even transposition sort below has a fixed trip count and unrolls into min/max on registers.
// Values move four at a time where the layout allows (vec4 access is about twice as fast on a CPU adapter).

override K: u32 = 3u;
const MAX_K = 64u;

struct Params { n: u32, rowStride: u32, scale: f32, _pad: u32 }
struct Step { phase: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> Src: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Dst: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Src1: array<f32>;
@group(0) @binding(5) var<storage, read_write> Dst1: array<f32>;

var<private> v: array<vec4<f32>, MAX_K>;

// Median of v[0..K-1] in each of the four lanes (reorders v).
fn median() -> vec4<f32> {
  if (K == 1u) { return v[0]; }
  if (K == 3u) { return max(min(v[0], v[1]), min(max(v[0], v[1]), v[2])); }
  for (var round = 0u; round < K; round++) {
    for (var i = round % 2u; i + 1u < K; i += 2u) {
      let a = v[i];
      let b = v[i + 1u];
      v[i] = min(a, b);
      v[i + 1u] = max(a, b);
    }
  }
  let low = v[(K - 1u) / 2u];
  if (K % 2u == 1u) { return low; }
  return 0.5 * (low + v[K / 2u]);
}

// One-pass M3: the K group slices [K, n] of the batch gradient (each a group's mean gradient divided by K)
// give Dst = scale * their median (scale = K gives the median of the group means). `groups4` needs
// n % 4 == 0 (p.n counts vec4s); `groups` takes any n, one value per invocation, in Src1/Dst1.
@compute @workgroup_size(64)
fn groups4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  for (var k = 0u; k < K; k++) { v[k] = Src[k * p.n + i]; }
  Dst[i] = p.scale * median();
}

@compute @workgroup_size(64)
fn groups(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  for (var k = 0u; k < K; k++) { v[k] = vec4<f32>(Src1[k * p.n + i]); }
  Dst1[i] = p.scale * median().x;
}

// Serial M3, one micro-batch per step: Dst is the micro-batch gradient, updated in place (its last vec4 may
// cover the buffer's padding); Src is a ring of the previous K - 1 micro-batch gradients [K - 1, n] (p.n
// counts vec4s). Micro-batches 0..K-2 of a cycle are stored and give a zero update; the last one gives
// the median of all K.
@compute @workgroup_size(64)
fn serial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let g = Dst[i];
  if (step.phase + 1u < K) {
    Src[step.phase * p.n + i] = g;
    Dst[i] = vec4<f32>(0.0);
    return;
  }
  for (var k = 0u; k + 1u < K; k++) { v[k] = Src[k * p.n + i]; }
  v[K - 1u] = g;
  Dst[i] = p.scale * median();
}

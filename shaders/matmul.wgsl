// C[b] = op(A[b]) * op(B[b]) where op transposes when TRANS_A / TRANS_B; row-major, batched over grid z.
// Each invocation computes a 4x4 block of C in four vec4 accumulators; a workgroup of 8x8 covers 32x32.
// No shared memory: on CPU adapters (lavapipe) barriers cost more than the loads they save.
// Out-of-range rows and columns are clamped for loading and masked on store, so the inner loop has no branches.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, accumulate: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn loadB4(base: u32, k: u32, n: vec4<u32>) -> vec4<f32> {
  if (TRANS_B) {
    return vec4<f32>(B[base + n.x * p.K + k], B[base + n.y * p.K + k], B[base + n.z * p.K + k], B[base + n.w * p.K + k]);
  }
  let row = base + k * p.N;
  return vec4<f32>(B[row + n.x], B[row + n.y], B[row + n.z], B[row + n.w]);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * 4u;
  let n0 = gid.x * 4u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let baseA = gid.z * p.strideA;
  let baseB = gid.z * p.strideB;
  let lastM = p.M - 1u;
  let lastN = p.N - 1u;
  let m = vec4<u32>(m0, min(m0 + 1u, lastM), min(m0 + 2u, lastM), min(m0 + 3u, lastM));
  let n = vec4<u32>(n0, min(n0 + 1u, lastN), min(n0 + 2u, lastN), min(n0 + 3u, lastN));
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.K; k++) {
    let b = loadB4(baseB, k, n);
    c0 += loadA(baseA, m.x, k) * b;
    c1 += loadA(baseA, m.y, k) * b;
    c2 += loadA(baseA, m.z, k) * b;
    c3 += loadA(baseA, m.w, k) * b;
  }
  let baseC = gid.z * p.strideC;
  var rows = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    let r = m0 + i;
    if (r >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + j;
      if (col >= p.N) { break; }
      let idx = baseC + r * p.N + col;
      if (p.accumulate != 0u) { C[idx] += rows[i][j]; } else { C[idx] = rows[i][j]; }
    }
  }
}

// Deterministic reductions: fixed summation order, no atomics.

struct Params { G: u32, R: u32, C: u32, alpha: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;

// X viewed as [G, R, C]: Out[g, c] = alpha * sum_r X[g, r, c]. One invocation per output (g, c).
@compute @workgroup_size(64)
fn sum_middle(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let g = gid.y;
  if (c >= p.C || g >= p.G) { return; }
  var acc = 0.0;
  let base = g * p.R * p.C + c;
  for (var r = 0u; r < p.R; r++) { acc += X[base + r * p.C]; }
  Out[g * p.C + c] = p.alpha * acc;
}

// Gradient of sum_middle: Out[g, r, c] = alpha * X[g, c].
@compute @workgroup_size(64)
fn broadcast_middle(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  let n = p.G * p.R * p.C;
  if (i >= n) { return; }
  let c = i % p.C;
  let g = i / (p.R * p.C);
  Out[i] = p.alpha * X[g * p.C + c];
}

var<workgroup> partial: array<f32, 256>;

// Out[0] = alpha * sum of the first R values of X, by one workgroup: strided partial sums, then a tree.
@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.R; i += 256u) { acc += X[i]; }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { Out[0] = p.alpha * partial[0]; }
}

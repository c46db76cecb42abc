// Gradient coherence (experiments/rules/coherence.ts): for per-example gradients g_b of one parameter,
// the two sums  ||sum_b g_b||^2  and  sum_b ||g_b||^2  are accumulated into Result[2 slot], Result[2 slot + 1].
//
// Dense layers never form g_b: with g_b = dy_b ⊗ x_b,  g_a · g_b = (dy_a · dy_b)(x_a · x_b), so both sums
// come from the B x B Gram matrices of the factors. Other parameters use materialised g_b [B, n].
// Each pass writes (part of ||sum||^2, part of sum ||.||^2) pairs into Partial; `reduce` adds them up.

struct Params { B: u32, rows: u32, cols: u32, rowStride: u32, count: u32, slot: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> Partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> Result: array<f32>;

// Pair (a, b) of a dense weight: DY [B, rows], X [B, cols]. With cols = 0 it is a bias (g_b = DY[b, :]).
@compute @workgroup_size(64)
fn pairs(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * p.rowStride;
  if (k >= p.B * p.B) { return; }
  let a = k / p.B;
  let b = k % p.B;
  var dd = 0.0;
  for (var r = 0u; r < p.rows; r++) { dd += DY[a * p.rows + r] * DY[b * p.rows + r]; }
  var xx = 1.0;
  if (p.cols > 0u) {
    xx = 0.0;
    for (var c = 0u; c < p.cols; c++) { xx += X[a * p.cols + c] * X[b * p.cols + c]; }
  }
  let dot = dd * xx;
  Partial[2u * k] = dot;
  Partial[2u * k + 1u] = select(0.0, dot, a == b);
}

var<workgroup> sums: array<vec2<f32>, 64>;

// Materialised X [B, cols]: coordinate c contributes (sum_b X[b, c])^2 and sum_b X[b, c]^2; each workgroup
// adds its 64 coordinates into Partial[2 w], Partial[2 w + 1].
@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let c = gid.x + gid.y * p.rowStride;
  var part = vec2<f32>(0.0, 0.0);
  if (c < p.cols) {
    var s = 0.0;
    var q = 0.0;
    for (var b = 0u; b < p.B; b++) {
      let v = X[b * p.cols + c];
      s += v;
      q += v * v;
    }
    part = vec2<f32>(s * s, q);
  }
  sums[l] = part;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h >>= 1u) {
    if (l < h) { sums[l] += sums[l + h]; }
    workgroupBarrier();
  }
  if (l == 0u) {
    let w = wid.x + wid.y * nw.x;
    Partial[2u * w] = sums[0].x;
    Partial[2u * w + 1u] = sums[0].y;
  }
}

var<workgroup> total: array<vec2<f32>, 256>;

// Result[2 slot], Result[2 slot + 1] = sums of the first `count` pairs of Partial, by one workgroup.
@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) l: u32) {
  var acc = vec2<f32>(0.0, 0.0);
  for (var i = l; i < p.count; i += 256u) { acc += vec2<f32>(Partial[2u * i], Partial[2u * i + 1u]); }
  total[l] = acc;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (l < h) { total[l] += total[l + h]; }
    workgroupBarrier();
  }
  if (l == 0u) {
    Result[2u * p.slot] = total[0].x;
    Result[2u * p.slot + 1u] = total[0].y;
  }
}

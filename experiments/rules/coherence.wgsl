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

// Dense weight: DY [B, rows], X [B, cols]; with cols = 0 a bias (g_b = DY[b, :]). Invocation (x, y) takes the
// 4 x 4 block of example pairs a in 4y.., b in 4x.. and writes its share of the two sums to Partial[2 (y nb + x)].
// The Gram matrices are symmetric, so blocks below the diagonal are skipped and those above count twice.
@compute @workgroup_size(8, 8)
fn pairs(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nb = (p.B + 3u) / 4u;
  if (gid.x >= nb || gid.y >= nb) { return; }
  let k = gid.y * nb + gid.x;
  if (gid.x < gid.y) {
    Partial[2u * k] = 0.0;
    Partial[2u * k + 1u] = 0.0;
    return;
  }
  let a0 = 4u * gid.y;
  let b0 = 4u * gid.x;
  var dd: array<f32, 16>;
  var xx: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { dd[i] = 0.0; xx[i] = select(0.0, 1.0, p.cols == 0u); }
  // Rows past the batch repeat the last example; their pairs are masked out below.
  for (var r = 0u; r < p.rows; r++) {
    var u: array<f32, 4>;
    var v: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
      u[i] = DY[min(a0 + i, p.B - 1u) * p.rows + r];
      v[i] = DY[min(b0 + i, p.B - 1u) * p.rows + r];
    }
    for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { dd[4u * i + j] += u[i] * v[j]; } }
  }
  for (var c = 0u; c < p.cols; c++) {
    var u: array<f32, 4>;
    var v: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
      u[i] = X[min(a0 + i, p.B - 1u) * p.cols + c];
      v[i] = X[min(b0 + i, p.B - 1u) * p.cols + c];
    }
    for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { xx[4u * i + j] += u[i] * v[j]; } }
  }
  let weight = select(2.0, 1.0, gid.x == gid.y);
  var num = 0.0;
  var den = 0.0;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      if (a0 + i >= p.B || b0 + j >= p.B) { continue; }
      let dot = dd[4u * i + j] * xx[4u * i + j];
      num += weight * dot;
      if (a0 + i == b0 + j) { den += dot; }
    }
  }
  Partial[2u * k] = num;
  Partial[2u * k + 1u] = den;
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

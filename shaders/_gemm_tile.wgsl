// Workgroup-memory tiled GEMM core for real GPUs, included by matmul_tiled.wgsl and conv2d_tiled.wgsl (a file whose
// name starts with `_` is a fragment: scripts/embed-shaders.mjs pastes it where a file says `//#include _gemm_tile`).
//
// C[z] (M×N) = A[z] (M×K) · B[z] (K×N), with K optionally split into `splits` deterministic chunks (split-K: each
// workgroup sums one chunk; a second pass adds the chunks in a fixed order). A workgroup owns a BM×BN tile of C and
// each invocation a TM×TN register block of it. K advances in slices of BK: both operand slices are staged in
// workgroup memory, double-buffered, so that the global loads of slice t+1 are in flight while slice t is multiplied,
// with one barrier per slice. Operands are fetched 4 elements at a time along their contiguous axis (one vec4 load
// where the including file knows the data to be aligned).
//
// The including file provides:
//   struct Product, and gemmProduct(z) -> Product: what fetching and storing product z needs, worked out once per
//                             workgroup; its field `dims` is that product's (M, N, K). Products may differ in size: the
//                             grid covers the largest, and a workgroup wholly past its product's M or N leaves at once.
//   A_FAST_K: bool            fetchA(pr, m, k, kEnd) returns A(m, k..k+3) when true, A(m..m+3, k) when false
//   B_FAST_N: bool            fetchB(pr, k, n, kEnd) returns B(k, n..n+3) when true, B(k..k+3, n) when false
//   (elements outside M, N or [.., kEnd) are 0), gemmSplits() -> chunks per product, gemmKChunk(pr) -> K per chunk,
//   and storeC(pr, s, m, n, v) for m < M, n < N.

override BM: u32 = 64u;
override BN: u32 = 64u;
// Register block: multiples of 4, at most 8.
override TM: u32 = 4u;
override TN: u32 = 4u;
// (BM / TM) * (BN / TN) invocations.
override WG: u32 = 256u;
const BK = 16u;
const RB = 2u; // vec4s of each operand staged per invocation and slice, at most: BM * BK / 4 / WG

var<workgroup> As: array<vec4<f32>, 2u * BK * BM / 4u>; // [buffer][k][m / 4]
var<workgroup> Bs: array<vec4<f32>, 2u * BK * BN / 4u>; // [buffer][k][n / 4]

// The slice of A and B starting at k0, fetched from global memory into registers.
struct Staged { a: array<vec4<f32>, RB>, b: array<vec4<f32>, RB> }

fn fetchSlice(pr: Product, m0: u32, n0: u32, k0: u32, kEnd: u32, li: u32) -> Staged {
  var s: Staged;
  for (var r = 0u; r < BM * BK / 4u / WG; r++) {
    let v = li + r * WG;
    if (A_FAST_K) { s.a[r] = fetchA(pr, m0 + v / (BK / 4u), k0 + (v % (BK / 4u)) * 4u, kEnd); }
    else { s.a[r] = fetchA(pr, m0 + (v % (BM / 4u)) * 4u, k0 + v / (BM / 4u), kEnd); }
  }
  for (var r = 0u; r < BN * BK / 4u / WG; r++) {
    let v = li + r * WG;
    if (B_FAST_N) { s.b[r] = fetchB(pr, k0 + v / (BN / 4u), n0 + (v % (BN / 4u)) * 4u, kEnd); }
    else { s.b[r] = fetchB(pr, k0 + (v % (BK / 4u)) * 4u, n0 + v / (BK / 4u), kEnd); }
  }
  return s;
}

fn stageSlice(s: Staged, buf: u32, li: u32) {
  for (var r = 0u; r < BM * BK / 4u / WG; r++) {
    let v = li + r * WG;
    if (A_FAST_K) {
      let m = v / (BK / 4u);
      let k = (v % (BK / 4u)) * 4u;
      for (var c = 0u; c < 4u; c++) { As[(buf * BK + k + c) * (BM / 4u) + m / 4u][m % 4u] = s.a[r][c]; }
    } else {
      As[(buf * BK + v / (BM / 4u)) * (BM / 4u) + v % (BM / 4u)] = s.a[r];
    }
  }
  for (var r = 0u; r < BN * BK / 4u / WG; r++) {
    let v = li + r * WG;
    if (B_FAST_N) {
      Bs[(buf * BK + v / (BN / 4u)) * (BN / 4u) + v % (BN / 4u)] = s.b[r];
    } else {
      let n = v / (BK / 4u);
      let k = (v % (BK / 4u)) * 4u;
      for (var c = 0u; c < 4u; c++) { Bs[(buf * BK + k + c) * (BN / 4u) + n / 4u][n % 4u] = s.b[r][c]; }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let splits = gemmSplits();
  let pr = gemmProduct(wid.z / splits);
  let s = wid.z % splits;
  let dims = pr.dims;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  if (m0 >= dims.x || n0 >= dims.y) { return; }
  let kBegin = min(s * gemmKChunk(pr), dims.z);
  let kEnd = min(kBegin + gemmKChunk(pr), dims.z);
  let slices = (kEnd - kBegin + BK - 1u) / BK;
  let tx = li % (BN / TN);
  let ty = li / (BN / TN);

  var acc: array<vec4<f32>, 16>; // [TM][TN / 4], row stride 2
  if (slices > 0u) { stageSlice(fetchSlice(pr, m0, n0, kBegin, kEnd, li), 0u, li); }
  workgroupBarrier();
  for (var t = 0u; t < slices; t++) {
    let buf = t & 1u;
    let more = t + 1u < slices;
    var next: Staged;
    if (more) { next = fetchSlice(pr, m0, n0, kBegin + (t + 1u) * BK, kEnd, li); }
    for (var k = 0u; k < BK; k++) {
      var a: array<vec4<f32>, 2>;
      var b: array<vec4<f32>, 2>;
      for (var i = 0u; i < TM / 4u; i++) { a[i] = As[(buf * BK + k) * (BM / 4u) + ty * (TM / 4u) + i]; }
      for (var j = 0u; j < TN / 4u; j++) { b[j] = Bs[(buf * BK + k) * (BN / 4u) + tx * (TN / 4u) + j]; }
      for (var i = 0u; i < TM; i++) {
        let av = vec4<f32>(a[i / 4u][i % 4u]);
        for (var j = 0u; j < TN / 4u; j++) { acc[i * 2u + j] = fma(av, b[j], acc[i * 2u + j]); }
      }
    }
    if (more) { stageSlice(next, buf ^ 1u, li); }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty * TM + i;
    if (m >= dims.x) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx * TN + j;
      if (n < dims.y) { storeC(pr, s, m, n, acc[i * 2u + j / 4u][j % 4u]); }
    }
  }
}

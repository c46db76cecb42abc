// C[z] = op(A[z]) · op(B[z]) on workgroup-memory tiles for real GPUs (the tile core is _gemm_tile.wgsl); the same
// products as matmul.wgsl, whose layout rules it follows: row-major operands, batch strides (0 broadcasts), and with
// FOLD the columns of B and C folded over N / cols batch entries of `cols` columns (a 1x1 convolution over a batch).
// With splits > 1 each chunk of K goes to the scratch buffer P and `splitk_reduce` adds the chunks in order into C.
// A bias over the columns and a ReLU (a Linear layer's), or a ReLU's gradient mask, may be applied as C is written.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, accumulate: u32, cols: u32, splits: u32, kChunk: u32, batch: u32, _a: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> P: array<f32>;
@group(0) @binding(5) var<storage, read> Bias: array<f32>;
@group(0) @binding(6) var<storage, read> Mask: array<f32>;

// A is M×K row-major when A_FAST_K, else K×M (transposed); B is K×N when B_FAST_N, else N×K.
override A_FAST_K: bool = true;
override B_FAST_N: bool = true;
// A's or B's fetched runs of 4 are whole aligned vec4s (row length and batch stride multiples of 4).
override VEC_A: bool = false;
override VEC_B: bool = false;
override FOLD: bool = false;
// Epilogue of a plain product (neither folded nor accumulating): C = max(AB + Bias[n], 0), each part optional.
override EPI_BIAS: bool = false;
override EPI_RELU: bool = false;
// A ReLU's gradient: C = 0 where Mask (the ReLU's output, laid out as C) is not positive.
override EPI_MASK: bool = false;

//#include _gemm_tile

struct Product { dims: vec3<u32>, z: u32 }
fn gemmProduct(z: u32) -> Product { return Product(vec3<u32>(p.M, p.N, p.K), z); }
fn gemmSplits() -> u32 { return p.splits; }
fn gemmKChunk(pr: Product) -> u32 { return p.kChunk; }

fn elemA(i: u32) -> f32 { return A[i >> 2u][i & 3u]; }
fn elemB(i: u32) -> f32 { return B[i >> 2u][i & 3u]; }

fn fetchA(pr: Product, m: u32, k: u32, kEnd: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  let base = pr.z * p.strideA;
  if (A_FAST_K) {
    if (m >= p.M) { return v; }
    let i = base + m * p.K + k;
    if (VEC_A && k + 3u < kEnd) { return A[i >> 2u]; }
    for (var c = 0u; c < 4u; c++) { if (k + c < kEnd) { v[c] = elemA(i + c); } }
  } else {
    if (k >= kEnd) { return v; }
    let i = base + k * p.M + m;
    if (VEC_A && m + 3u < p.M) { return A[i >> 2u]; }
    for (var c = 0u; c < 4u; c++) { if (m + c < p.M) { v[c] = elemA(i + c); } }
  }
  return v;
}

// Element (k, n) of B: column n is column n % cols of batch entry n / cols when folded.
fn indexB(z: u32, k: u32, n: u32) -> u32 {
  if (FOLD) { return (n / p.cols) * p.strideB + k * p.cols + n % p.cols; }
  return z * p.strideB + select(n * p.K + k, k * p.N + n, B_FAST_N);
}

fn fetchB(pr: Product, k: u32, n: u32, kEnd: u32) -> vec4<f32> {
  let z = pr.z;
  var v = vec4<f32>(0.0);
  if (B_FAST_N) {
    if (k >= kEnd) { return v; }
    // Folded entries hold whole vec4s when cols % 4 == 0, which VEC_B promises.
    if (VEC_B && n + 3u < p.N) { return B[indexB(z, k, n) >> 2u]; }
    for (var c = 0u; c < 4u; c++) { if (n + c < p.N) { v[c] = elemB(indexB(z, k, n + c)); } }
  } else {
    if (n >= p.N) { return v; }
    let i = indexB(z, k, n);
    if (VEC_B && k + 3u < kEnd) { return B[i >> 2u]; }
    for (var c = 0u; c < 4u; c++) { if (k + c < kEnd) { v[c] = elemB(i + c); } }
  }
  return v;
}

fn indexC(z: u32, m: u32, n: u32) -> u32 {
  if (FOLD) { return (n / p.cols) * p.strideC + m * p.cols + n % p.cols; }
  return z * p.strideC + m * p.N + n;
}

fn writeC(z: u32, m: u32, n: u32, v: f32) {
  let i = indexC(z, m, n);
  var r = v;
  if (EPI_BIAS) { r += Bias[n]; }
  if (EPI_RELU) { r = max(r, 0.0); }
  if (EPI_MASK) { r = select(0.0, r, Mask[i] > 0.0); }
  if (p.accumulate != 0u) { C[i] += r; } else { C[i] = r; }
}

fn storeC(pr: Product, s: u32, m: u32, n: u32, v: f32) {
  if (p.splits > 1u) { P[((s * p.batch + pr.z) * p.M + m) * p.N + n] = v; } else { writeC(pr.z, m, n, v); }
}

// Second pass of split-K: C[z, m, n] (+)= Σ_s P[s, z, m, n], s in increasing order (deterministic, no atomics).
@compute @workgroup_size(256)
fn splitk_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  let MN = p.M * p.N;
  if (i >= MN * p.batch) { return; }
  var acc = 0.0;
  for (var s = 0u; s < p.splits; s++) { acc += P[s * MN * p.batch + i]; }
  let z = i / MN;
  let r = i % MN;
  writeC(z, r / p.N, r % p.N, acc);
}

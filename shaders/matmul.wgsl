// C[z] = op(A[z]) · op(B[z]), row-major, batched over workgroup z; op transposes when TRANS_A / TRANS_B. A batch
// stride of 0 broadcasts that operand over the batch. With cols < N, the columns of B and C are folded over N / cols
// batch entries of cols columns each, at strideB / strideC apart (batch 1, no transposed C): a product of one matrix
// with every example of an NCHW tensor is then one GEMM with the examples' pixels side by side on the lanes (a 1x1
// convolution's forward pass and input gradient).
//
// Tuned for CPU adapters (lavapipe: 8 invocations per SIMD instruction). There every storage load is a loop
// over the 8 lanes with a bounds check per element, even when all lanes read the same address, and costs far
// more than a multiply-add; a vec4 load shares the per-lane part over 4 elements. So the kernel maximises
// multiply-adds per loaded element with a big register tile, vec4 loads where the data allows, and no shared
// memory (barriers are far dearer than the loads they save):
//   - an invocation owns TM rows × TN groups of 4 adjacent columns of C and, per k, loads TM values of A and TN
//     vec4s of B (four scalar loads each when B's rows are not whole vec4s) for 4·TM·TN multiply-adds;
//   - the TM rows are the same for the whole workgroup and the columns of its lanes are adjacent;
//   - the workgroup's row block comes from workgroup_id.x, so consecutive workgroups (which run together on
//     the worker threads) share one panel of B while it is in cache.
// The host may swap the operands to put the better-shaped side on the lanes: it then binds B as A and A as
// B, passes Cᵀ's sizes and sets TRANS_C, and the kernel computes Cᵀ = op(B)ᵀ·op(A)ᵀ and stores it transposed.
// Out-of-range rows and columns are clamped for loading and masked on store, so the inner loop has no branches.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, accumulate: u32, cols: u32, _a: u32, _b: u32, _c: u32, _d: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override TRANS_C: bool = false;
// B's rows are whole, aligned vec4s: !TRANS_B, cols % 4 == 0 and strideB % 4 == 0.
override VEC_B: bool = false;
// Row blocks along workgroup_id.x (column blocks along y); false swaps them, for more than 65535 row blocks.
override ROWS_X: bool = true;
override WG: u32 = 32u;
// Register tile: TM rows × TN column groups of 4, at most TM_MAX × TN_MAX.
override TM: u32 = 8u;
override TN: u32 = 4u;
const TM_MAX = 8u;
const TN_MAX = 4u;

fn bAt(i: u32) -> f32 { return B[i >> 2u][i & 3u]; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let rowBlock = select(wid.y, wid.x, ROWS_X);
  let colBlock = select(wid.x, wid.y, ROWS_X);
  let m0 = rowBlock * TM;
  let c0 = (colBlock * WG * TN + li) * 4u; // first column of group 0; group j starts 4·WG·j columns later

  // A(m, k) = A[a[i] + k·sa]
  let sa = select(1u, M, TRANS_A);
  let baseA = wid.z * p.strideA;
  var a: array<u32, TM_MAX>;
  for (var i = 0u; i < TM; i++) {
    let m = min(m0 + i, M - 1u);
    a[i] = baseA + select(m * K, m, TRANS_A);
  }
  // B(k, n) = B[b + k·sb] for each of the 4 columns of group j (clamped), column n being column n % cols of batch
  // entry n / cols; with VEC_B, b[j].x is the vec4 index.
  let cols = p.cols;
  let baseB = wid.z * p.strideB;
  let sb = select(cols, 1u, TRANS_B);
  var b: array<vec4<u32>, TN_MAX>;
  for (var j = 0u; j < TN; j++) {
    let c = c0 + j * WG * 4u;
    let n = min(vec4<u32>(c, c + 1u, c + 2u, c + 3u), vec4<u32>(N - 1u));
    let col = n % cols;
    b[j] = baseB + (n / cols) * p.strideB + select(col, col * K, TRANS_B);
    if (VEC_B) {
      let c4 = min(c, N - 4u);
      b[j].x = (baseB + (c4 / cols) * p.strideB + c4 % cols) >> 2u;
    }
  }

  var acc: array<vec4<f32>, TM_MAX * TN_MAX>;
  let sb4 = cols >> 2u;
  for (var k = 0u; k < K; k++) {
    var bv: array<vec4<f32>, TN_MAX>;
    for (var j = 0u; j < TN; j++) {
      if (VEC_B) {
        bv[j] = B[b[j].x + k * sb4];
      } else {
        let o = b[j] + k * sb;
        bv[j] = vec4<f32>(bAt(o.x), bAt(o.y), bAt(o.z), bAt(o.w));
      }
    }
    for (var i = 0u; i < TM; i++) {
      let av = vec4<f32>(A[a[i] + k * sa]);
      for (var j = 0u; j < TN; j++) { acc[i * TN_MAX + j] = fma(av, bv[j], acc[i * TN_MAX + j]); }
    }
  }

  // The stores go through a loop that is not unrolled (its trip count is not a constant): unrolled, the masked
  // per-lane stores would be most of the shader's code and of its compile time, for a small part of its run time.
  let baseC = wid.z * p.strideC;
  let count = min(TM, M - min(m0, M)) * TN * 4u;
  for (var t = 0u; t < count; t++) {
    let i = t / (TN * 4u);
    let j = (t / 4u) % TN;
    let m = m0 + i;
    let n = c0 + j * WG * 4u + t % 4u;
    if (n < N) {
      let idx = baseC + select((n / cols) * p.strideC + m * cols + n % cols, n * M + m, TRANS_C);
      let v = acc[i * TN_MAX + j][t % 4u];
      if (p.accumulate != 0u) { C[idx] += v; } else { C[idx] = v; }
    }
  }
}

// Convolution forward as an implicit GEMM: Y[n, o, ho, wo] = Bias[o] + sum_{c, i, j} Wt[o, c, i, j] * X[n, g*Cg + c, ih, iw]
// with ih = ho*SH - PH + i*DH, iw = wo*SW - PW + j*DW (zero outside the image). NCHW tensors, weights [O, Cg, KH, KW].
// GEMM view per group g: rows = output positions (n, ho, wo) flattened over the batch, columns = output channels,
// reduction over (c, i, j). Each invocation accumulates an 8 x 16 register tile (8 positions x 16 channels), without
// shared memory. Why this shape on a CPU adapter (lavapipe runs invocations as SIMD lanes): the channel tile comes
// from the workgroup id, so a weight load has the same address in every lane and costs one scalar load, while
// an image load differs per lane and costs a gather; 8 gathers and 16 scalar loads feed 128 multiply-adds.
// Nothing returns early (out-of-range positions and channels are clamped on load and skipped on store), which
// keeps every lane active so that loads with a lane-independent address stay scalar.
// Bounds are resolved once per kernel tap (i, j): the inner loop over input channels is loads and multiply-adds.
// Grid: x = position tiles (WG invocations x 8 positions), y = channel tiles within a group, z = group.

//#include _conv_params
struct Tail { hasBias: u32, _a: u32, _b: u32, _c: u32, _d: vec4<u32> }
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

// Invocations per workgroup, chosen by the engine to leave the fewest idle lanes at the end of the grid.
override WG: u32 = 64u;
const TP = 8u; // output positions per invocation, as two vec4
// Output channels per invocation: 16, or the power of two that covers a group's fewer channels.
override TO: u32 = 16u;
const TO_MAX = 16u;

// Y[n, o, ho, wo] = Bias[o], for a 1x1 convolution whose product then accumulates into Y (engine/ops/conv2d.ts).
// 16 elements per invocation; index = x + y * 64 * num_workgroups.x.
@compute @workgroup_size(64)
fn fill_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let HoWo = p.Ho * p.Wo;
  let first = (gid.x + gid.y * nwg.x * 64u) * 16u;
  let end = min(first + 16u, p.N * p.O * HoWo);
  for (var i = first; i < end; i++) { Y[i] = Bias[(i / HoWo) % p.O]; }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let HoWo = p.Ho * p.Wo;
  let P = p.N * HoWo;
  let g = wg.z;
  let Cg = p.C / p.groups;
  let Og = p.O / p.groups;
  let HW = p.H * p.W;
  let KK = p.KH * p.KW;
  let H = i32(p.H);
  let W = i32(p.W);

  // Positions q0 .. q0+7 as two vec4 (clamped at the end of the batch).
  let q0 = (wg.y * WG + lid) * TP;
  let qa = min(vec4<u32>(q0, q0 + 1u, q0 + 2u, q0 + 3u), vec4<u32>(P - 1u));
  let qb = min(vec4<u32>(q0 + 4u, q0 + 5u, q0 + 6u, q0 + 7u), vec4<u32>(P - 1u));
  let na = qa / HoWo;
  let nb = qb / HoWo;
  let ra = qa % HoWo;
  let rb = qb % HoWo;
  let xBaseA = na * (p.C * HW) + g * Cg * HW;
  let xBaseB = nb * (p.C * HW) + g * Cg * HW;
  let ih0A = vec4<i32>((ra / p.Wo) * p.SH) - i32(p.PH);
  let ih0B = vec4<i32>((rb / p.Wo) * p.SH) - i32(p.PH);
  let iw0A = vec4<i32>((ra % p.Wo) * p.SW) - i32(p.PW);
  let iw0B = vec4<i32>((rb % p.Wo) * p.SW) - i32(p.PW);

  // Weight rows of channels oFirst .. oFirst+15 of group g (clamped at the end of the group).
  let oFirst = g * Og + wg.x * TO;
  let oLast = g * Og + Og - 1u;
  var wRow: array<u32, TO_MAX>;
  for (var t = 0u; t < TO; t++) { wRow[t] = min(oFirst + t, oLast) * (Cg * KK); }

  // acc[2t] and acc[2t + 1]: channel oFirst + t at positions q0..q0+3 and q0+4..q0+7.
  var acc: array<vec4<f32>, 2u * TO_MAX>;
  for (var i = 0u; i < p.KH; i++) {
    let ihA = ih0A + i32(i * p.DH);
    let ihB = ih0B + i32(i * p.DH);
    for (var j = 0u; j < p.KW; j++) {
      let iwA = iw0A + i32(j * p.DW);
      let iwB = iw0B + i32(j * p.DW);
      let okA = (ihA >= vec4<i32>(0)) & (ihA < vec4<i32>(H)) & (iwA >= vec4<i32>(0)) & (iwA < vec4<i32>(W));
      let okB = (ihB >= vec4<i32>(0)) & (ihB < vec4<i32>(H)) & (iwB >= vec4<i32>(0)) & (iwB < vec4<i32>(W));
      var xa = xBaseA + vec4<u32>(select(vec4<i32>(0), ihA * W + iwA, okA));
      var xb = xBaseB + vec4<u32>(select(vec4<i32>(0), ihB * W + iwB, okB));
      var wi = i * p.KW + j;
      for (var c = 0u; c < Cg; c++) {
        let va = select(vec4<f32>(0.0), vec4<f32>(X[xa.x], X[xa.y], X[xa.z], X[xa.w]), okA);
        let vb = select(vec4<f32>(0.0), vec4<f32>(X[xb.x], X[xb.y], X[xb.z], X[xb.w]), okB);
        for (var t = 0u; t < TO; t++) {
          let w = Wt[wRow[t] + wi];
          acc[2u * t] = fma(vec4<f32>(w), va, acc[2u * t]);
          acc[2u * t + 1u] = fma(vec4<f32>(w), vb, acc[2u * t + 1u]);
        }
        xa += HW;
        xb += HW;
        wi += KK;
      }
    }
  }

  for (var t = 0u; t < TO; t++) {
    let o = oFirst + t;
    if (o > oLast) { break; }
    var bias = 0.0;
    if (p.tail.hasBias != 0u) { bias = Bias[o]; }
    for (var s = 0u; s < TP; s++) {
      if (q0 + s >= P) { break; }
      let q = q0 + s;
      let n = q / HoWo;
      Y[n * (p.O * HoWo) + o * HoWo + q % HoWo] = acc[2u * t + s / 4u][s % 4u] + bias;
    }
  }
}

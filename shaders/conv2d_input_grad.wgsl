// Convolution input gradient as an implicit GEMM (a transposed convolution without col2im):
//   dX[n, g*Cg + c, h, w] = sum_{o, i, j} Wt[g*Og + o, c, i, j] * dY[n, g*Og + o, ho, wo]
// over taps with h = ho*SH - PH + i*DH and w = wo*SW - PW + j*DW. Which taps (i, j) reach a pixel depends only on
// the pixel's stride phase (h mod SH, w mod SW), so each phase is its own GEMM (grid z = group * SH*SW + phase):
// every tap it visits is a real one, and a stride-2 layer does no work on the taps that do not exist. Every pixel of a
// phase that some tap reaches is written; the rest are zeroed first by `zero`.
// Each invocation accumulates an 8 x 16 register tile (8 pixels of one phase x 16 input channels) without shared
// memory; the channel tile comes from the workgroup id, so weight loads have the same address in every lane.
// Nothing returns early (out-of-range pixels and channels are clamped on load and skipped on store), which keeps
// every lane active so that those loads stay scalar on a CPU adapter.
// Grid: x = pixel tiles (WG invocations x 8 pixels, sized for phase 0), y = channel tiles in a group, z as above.

//#include _conv_params
struct Tail { _unused: array<vec4<u32>, 2> }
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dX: array<f32>;

// Invocations per workgroup, chosen by the engine to leave the fewest idle lanes at the end of the grid.
override WG: u32 = 64u;
const TP = 8u; // pixels per invocation, as two vec4
// Input channels per invocation: 16, or the power of two that covers a group's fewer channels.
override TC: u32 = 16u;
const TC_MAX = 16u;

// Number of indices t >= 0 with phase + t*stride < size.
fn phaseCount(size: u32, phase: u32, stride: u32) -> u32 {
  if (phase >= size) { return 0u; }
  return (size - phase + stride - 1u) / stride;
}

// For a pixel phase + t*stride, tap `tap` reads output row t + shift, where shift = (phase + pad - tap*dilation) / stride;
// `hits` is false when that division is not exact (the tap never lands on this phase).
struct TapShift { shift: i32, hits: bool }

fn tapShift(phase: u32, pad: u32, tap: u32, dilation: u32, stride: u32) -> TapShift {
  let num = i32(phase + pad) - i32(tap * dilation);
  let s = i32(stride);
  return TapShift(num / s, ((num % s) + s) % s == 0);
}

fn anyTap(phase: u32, pad: u32, taps: u32, dilation: u32, stride: u32) -> bool {
  for (var t = 0u; t < taps; t++) {
    if (tapShift(phase, pad, t, dilation, stride).hits) { return true; }
  }
  return false;
}

// dX = 0 everywhere, for layers with phases that no tap reaches. 16 elements per invocation (workgroups are costly
// on a CPU adapter); index = x + y * 64 * num_workgroups.x.
@compute @workgroup_size(64)
fn zero(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * 16u;
  let end = min(first + 16u, p.N * p.C * p.H * p.W);
  for (var i = first; i < end; i++) { dX[i] = 0.0; }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let phases = p.SH * p.SW;
  let g = wg.z / phases;
  let phase = wg.z % phases;
  let ph = phase / p.SW;
  let pw = phase % p.SW;
  let Hp = phaseCount(p.H, ph, p.SH);
  let Wp = phaseCount(p.W, pw, p.SW);
  let HpWp = Hp * Wp;
  let P = p.N * HpWp;
  // A phase that no tap reaches (a 1x1 stride-2 kernel has three of four) is left to the zero fill, which the
  // engine runs first in that case; the whole workgroup leaves, so no lane is left behind.
  if (!(anyTap(ph, p.PH, p.KH, p.DH, p.SH) && anyTap(pw, p.PW, p.KW, p.DW, p.SW))) { return; }
  let Cg = p.C / p.groups;
  let Og = p.O / p.groups;
  let HoWo = p.Ho * p.Wo;
  let KK = p.KH * p.KW;
  let K = Cg * KK;

  // Pixels q0 .. q0+7 of this phase as two vec4 (clamped at the end; an empty phase clamps to pixel 0 and stores nothing).
  let q0 = (wg.y * WG + lid) * TP;
  let last = max(P, 1u) - 1u;
  let qa = min(vec4<u32>(q0, q0 + 1u, q0 + 2u, q0 + 3u), vec4<u32>(last));
  let qb = min(vec4<u32>(q0 + 4u, q0 + 5u, q0 + 6u, q0 + 7u), vec4<u32>(last));
  let Wp1 = max(Wp, 1u);
  let HpWp1 = max(HpWp, 1u);
  let thA = vec4<i32>((qa % HpWp1) / Wp1);
  let thB = vec4<i32>((qb % HpWp1) / Wp1);
  let twA = vec4<i32>((qa % HpWp1) % Wp1);
  let twB = vec4<i32>((qb % HpWp1) % Wp1);
  let yBaseA = vec4<i32>((qa / HpWp1) * (p.O * HoWo) + g * Og * HoWo);
  let yBaseB = vec4<i32>((qb / HpWp1) * (p.O * HoWo) + g * Og * HoWo);

  // Weight offsets of input channels cFirst .. cFirst+15 within group g (clamped at the end of the group).
  let cFirst = wg.x * TC;
  var wCol: array<u32, TC_MAX>;
  for (var t = 0u; t < TC; t++) { wCol[t] = (g * Og) * K + min(cFirst + t, Cg - 1u) * KK; }

  // acc[2t] and acc[2t + 1]: channel cFirst + t at pixels q0..q0+3 and q0+4..q0+7.
  var acc: array<vec4<f32>, 2u * TC_MAX>;
  let Ho = i32(p.Ho);
  let Wo = i32(p.Wo);
  for (var i = 0u; i < p.KH; i++) {
    let sh = tapShift(ph, p.PH, i, p.DH, p.SH);
    if (!sh.hits) { continue; }
    let ohA = thA + sh.shift;
    let ohB = thB + sh.shift;
    for (var j = 0u; j < p.KW; j++) {
      let sw = tapShift(pw, p.PW, j, p.DW, p.SW);
      if (!sw.hits) { continue; }
      let owA = twA + sw.shift;
      let owB = twB + sw.shift;
      let okA = (ohA >= vec4<i32>(0)) & (ohA < vec4<i32>(Ho)) & (owA >= vec4<i32>(0)) & (owA < vec4<i32>(Wo));
      let okB = (ohB >= vec4<i32>(0)) & (ohB < vec4<i32>(Ho)) & (owB >= vec4<i32>(0)) & (owB < vec4<i32>(Wo));
      var ya = vec4<u32>(yBaseA + select(vec4<i32>(0), ohA * Wo + owA, okA));
      var yb = vec4<u32>(yBaseB + select(vec4<i32>(0), ohB * Wo + owB, okB));
      var wi = i * p.KW + j;
      for (var o = 0u; o < Og; o++) {
        let va = select(vec4<f32>(0.0), vec4<f32>(dY[ya.x], dY[ya.y], dY[ya.z], dY[ya.w]), okA);
        let vb = select(vec4<f32>(0.0), vec4<f32>(dY[yb.x], dY[yb.y], dY[yb.z], dY[yb.w]), okB);
        for (var t = 0u; t < TC; t++) {
          let w = Wt[wCol[t] + wi];
          acc[2u * t] = fma(vec4<f32>(w), va, acc[2u * t]);
          acc[2u * t + 1u] = fma(vec4<f32>(w), vb, acc[2u * t + 1u]);
        }
        ya += HoWo;
        yb += HoWo;
        wi += K;
      }
    }
  }

  let HW = p.H * p.W;
  for (var s = 0u; s < TP; s++) {
    let q = q0 + s;
    if (q >= P) { break; }
    let n = q / HpWp;
    let h = ph + ((q % HpWp) / Wp) * p.SH;
    let w = pw + ((q % HpWp) % Wp) * p.SW;
    let xBase = n * (p.C * HW) + h * p.W + w;
    for (var t = 0u; t < TC; t++) {
      let c = cFirst + t;
      if (c >= Cg) { break; }
      dX[xBase + (g * Cg + c) * HW] = acc[2u * t + s / 4u][s % 4u];
    }
  }
}

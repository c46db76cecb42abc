// Implicit-GEMM convolutions for real GPUs on the workgroup-memory tile core (_gemm_tile.wgsl); z is the group (and
// for the weight gradient also the gradient group). Geometry as in the conv2d_*.wgsl kernels (NCHW, OIHW weights).
//   MODE 0, forward:         Y[n, o, y, x] = Σ_{c,kh,kw} W[o, c, kh, kw] · X[n, c, y·s - p + kh·d, ...] (+ bias[o]),
//                            then max(Y, 0) with EPI_RELU (a fused ReLU)
//                            M = O/groups, N = batch·Ho·Wo, K = C/groups·KH·KW
//   MODE 1, input gradient:  dX[n, c, iy, ix] = Σ_{o,kh,kw} W[o, c, kh, kw] · dY[n, o, oy, ox] over the taps with
//                            oy·s = iy + p - kh·d; M = C/groups, N = batch·H·W, K = O/groups·KH·KW (every pixel written)
//   MODE 2, weight gradient: dW[part][o, c, kh, kw] = Σ over the part's examples and positions of dY · X;
//                            M = O/groups, N = C/groups·KH·KW, K = examples·Ho·Wo, split into the parts of each gradient
//                            group (consecutive examples per part); an empty part writes zeros.

//#include _conv_params
struct Tail {
  // forward: 1 with a bias; weight gradient: examples per gradient group, parts per gradient group, examples per part
  hasBias: u32, perGradGroup: u32, parts: u32, perPart: u32, _a: vec4<u32>,
}
// forward: X, W, bias; input gradient: dY, W, (unused); weight gradient: X, dY, (unused)
@group(0) @binding(1) var<storage, read> In0: array<f32>;
@group(0) @binding(2) var<storage, read> In1: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<f32>;
// Input gradient with EPI_MASK: a ReLU's output, laid out as dX; dX is 0 where it is not positive (the ReLU's gradient).
@group(0) @binding(5) var<storage, read> Mask: array<f32>;

override MODE: u32 = 0u;
override A_FAST_K: bool = true;
override B_FAST_N: bool = true;
// Forward: a ReLU applied as the output is stored (after the bias).
override EPI_RELU: bool = false;
override EPI_MASK: bool = false;

//#include _gemm_tile

fn taps() -> u32 { return p.KH * p.KW; }
fn cg() -> u32 { return p.C / p.groups; }
fn og() -> u32 { return p.O / p.groups; }

fn gemmDims() -> vec3<u32> {
  if (MODE == 0u) { return vec3<u32>(og(), p.N * p.Ho * p.Wo, cg() * taps()); }
  if (MODE == 1u) { return vec3<u32>(cg(), p.N * p.H * p.W, og() * taps()); }
  return vec3<u32>(og(), cg() * taps(), p.tail.perGradGroup * p.Ho * p.Wo);
}
fn gemmSplits() -> u32 { return select(1u, p.tail.parts, MODE == 2u); }
fn gemmKChunk() -> u32 { return select(gemmDims().z, p.tail.perPart * p.Ho * p.Wo, MODE == 2u); }

// Input pixel (image, channel) at output position q = y·Wo + x seen through tap t = kh·KW + kw, or -1 when padding.
fn inputAt(image: u32, channel: u32, q: u32, t: u32) -> f32 {
  let iy = i32((q / p.Wo) * p.SH + (t / p.KW) * p.DH) - i32(p.PH);
  let ix = i32((q % p.Wo) * p.SW + (t % p.KW) * p.DW) - i32(p.PW);
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return In0[((image * p.C + channel) * p.H + u32(iy)) * p.W + u32(ix)];
}

fn elemA(z: u32, m: u32, k: u32) -> f32 {
  let grp = z % p.groups;
  if (MODE == 0u) { return In1[(grp * og() + m) * cg() * taps() + k]; }
  if (MODE == 1u) { return In1[((grp * og() + k / taps()) * cg() + m) * taps() + k % taps()]; }
  // dY[image, o, q], k = example within the gradient group · Ho·Wo + q
  let P = p.Ho * p.Wo;
  let image = (z / p.groups) * p.tail.perGradGroup + k / P;
  return In1[(image * p.O + grp * og() + m) * P + k % P];
}

fn elemB(z: u32, k: u32, n: u32) -> f32 {
  let grp = z % p.groups;
  if (MODE == 0u) {
    let P = p.Ho * p.Wo;
    return inputAt(n / P, grp * cg() + k / taps(), n % P, k % taps());
  }
  if (MODE == 1u) {
    // dY at the output position that tap k's (o, kh, kw) maps to input pixel n, if any.
    let HW = p.H * p.W;
    let t = k % taps();
    let ty = i32((n % HW) / p.W + p.PH) - i32((t / p.KW) * p.DH);
    let tx = i32(n % p.W + p.PW) - i32((t % p.KW) * p.DW);
    if (ty < 0 || tx < 0 || u32(ty) % p.SH != 0u || u32(tx) % p.SW != 0u) { return 0.0; }
    let oy = u32(ty) / p.SH;
    let ox = u32(tx) / p.SW;
    if (oy >= p.Ho || ox >= p.Wo) { return 0.0; }
    return In0[(((n / HW) * p.O + grp * og() + k / taps()) * p.Ho + oy) * p.Wo + ox];
  }
  let P = p.Ho * p.Wo;
  let image = (z / p.groups) * p.tail.perGradGroup + k / P;
  return inputAt(image, grp * cg() + n / taps(), k % P, n % taps());
}

fn fetchA(z: u32, m: u32, k: u32, kEnd: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  let dims = gemmDims();
  for (var c = 0u; c < 4u; c++) {
    let mm = select(m + c, m, A_FAST_K);
    let kk = select(k, k + c, A_FAST_K);
    if (mm < dims.x && kk < kEnd) { v[c] = elemA(z, mm, kk); }
  }
  return v;
}

fn fetchB(z: u32, k: u32, n: u32, kEnd: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  let dims = gemmDims();
  for (var c = 0u; c < 4u; c++) {
    let kk = select(k + c, k, B_FAST_N);
    let nn = select(n, n + c, B_FAST_N);
    if (kk < kEnd && nn < dims.y) { v[c] = elemB(z, kk, nn); }
  }
  return v;
}

fn storeC(z: u32, s: u32, m: u32, n: u32, v: f32) {
  let grp = z % p.groups;
  if (MODE == 0u) {
    let P = p.Ho * p.Wo;
    let o = grp * og() + m;
    let y = v + select(0.0, Bias[o], p.tail.hasBias != 0u);
    Out[((n / P) * p.O + o) * P + n % P] = select(y, max(y, 0.0), EPI_RELU);
  } else if (MODE == 1u) {
    let HW = p.H * p.W;
    let i = ((n / HW) * p.C + grp * cg() + m) * HW + n % HW;
    Out[i] = select(v, select(0.0, v, Mask[i] > 0.0), EPI_MASK);
  } else {
    let part = (z / p.groups) * p.tail.parts + s;
    Out[(part * p.O + grp * og() + m) * cg() * taps() + n] = v;
  }
}

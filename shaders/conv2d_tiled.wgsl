// Implicit-GEMM convolutions for real GPUs on the workgroup-memory tile core (_gemm_tile.wgsl); z is the group (and
// for the weight gradient also the gradient group, for the input gradient also the stride phase). Geometry as in the
// conv2d_*.wgsl kernels (NCHW, OIHW weights).
//   MODE 0, forward:         Y[n, o, y, x] = Σ_{c,kh,kw} W[o, c, kh, kw] · X[n, c, y·s - p + kh·d, ...] (+ bias[o]),
//                            then max(Y, 0) with EPI_RELU (a fused ReLU)
//                            M = O/groups, N = batch·Ho·Wo, K = C/groups·KH·KW
//   MODE 1, input gradient:  dX[n, c, iy, ix] = Σ_{o,kh,kw} W[o, c, kh, kw] · dY[n, o, oy, ox] over the taps with
//                            oy·s = iy + p - kh·d. Which taps reach a pixel depends only on its stride phase
//                            (iy mod SH, ix mod SW), so each phase is its own dense product (z = phase·groups + group):
//                            M = C/groups, N = batch·(the phase's pixels), K = O/groups·(the phase's taps). A phase
//                            that no tap reaches has K = 0 and stores zeros: every pixel is written. Stride 1 is one
//                            phase with every tap.
//   MODE 2, weight gradient: dW[part][o, c, kh, kw] = Σ over the part's examples and positions of dY · X;
//                            M = O/groups, N = C/groups·KH·KW, K = examples·Ho·Wo, split into the parts of each gradient
//                            group (consecutive examples per part); an empty part writes zeros.
// The gathers decompose the first of the 4 elements of a fetch into image, position and tap once (integer divisions
// by runtime values are costly on a GPU) and step from it to the next 3, carrying into the next row or image.

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
// Operands are fetched along K for A and along N for B, the axes the gathers step along.
const A_FAST_K = true;
const B_FAST_N = true;
// Forward: a ReLU applied as the output is stored (after the bias).
override EPI_RELU: bool = false;
override EPI_MASK: bool = false;

// One axis of the input gradient's stride phase `phase`: its pixels phase + t·stride < size (t < pixels), and the kernel
// taps that reach them, tap0 + j·tapStep for j < taps, tap j reading output position t + out0 - j·outStep.
struct PhaseAxis { pixels: u32, tap0: u32, taps: u32, tapStep: u32, out0: i32, outStep: u32 }

struct Product {
  dims: vec3<u32>,
  grp: u32,
  // Weight gradient: the product's gradient group and its first example.
  gradGroup: u32,
  firstImage: u32,
  // Input gradient: the phase (row, column) and its two axes.
  phase: vec2<u32>,
  rows: PhaseAxis,
  cols: PhaseAxis,
}

//#include _gemm_tile

fn taps() -> u32 { return p.KH * p.KW; }
fn cg() -> u32 { return p.C / p.groups; }
fn og() -> u32 { return p.O / p.groups; }

// Tap t reaches pixel phase + u·stride where u·stride + pad - t·dilation is a multiple of the stride: the taps that
// do form a progression with step stride / gcd(stride, dilation), whose first element is below that step.
fn phaseAxis(phase: u32, size: u32, stride: u32, pad: u32, kernel: u32, dilation: u32) -> PhaseAxis {
  var a = PhaseAxis();
  a.pixels = select(0u, (size - phase + stride - 1u) / stride, phase < size);
  var g = stride;
  var r = dilation;
  while (r != 0u) { let t = g % r; g = r; r = t; }
  a.tapStep = stride / g;
  a.outStep = dilation / g;
  a.tap0 = kernel;
  for (var t = 0u; t < min(kernel, a.tapStep); t++) {
    if ((i32(phase + pad) - i32(t * dilation)) % i32(stride) == 0) { a.tap0 = t; break; }
  }
  if (a.tap0 < kernel) {
    a.taps = (kernel - a.tap0 + a.tapStep - 1u) / a.tapStep;
    a.out0 = (i32(phase + pad) - i32(a.tap0 * dilation)) / i32(stride);
  }
  return a;
}

fn gemmProduct(z: u32) -> Product {
  var pr = Product();
  pr.grp = z % p.groups;
  if (MODE == 0u) {
    pr.dims = vec3<u32>(og(), p.N * p.Ho * p.Wo, cg() * taps());
  } else if (MODE == 1u) {
    let phase = z / p.groups;
    pr.phase = vec2<u32>(phase / p.SW, phase % p.SW);
    pr.rows = phaseAxis(pr.phase.x, p.H, p.SH, p.PH, p.KH, p.DH);
    pr.cols = phaseAxis(pr.phase.y, p.W, p.SW, p.PW, p.KW, p.DW);
    pr.dims = vec3<u32>(cg(), p.N * pr.rows.pixels * pr.cols.pixels, og() * pr.rows.taps * pr.cols.taps);
  } else {
    pr.gradGroup = z / p.groups;
    pr.firstImage = pr.gradGroup * p.tail.perGradGroup;
    pr.dims = vec3<u32>(og(), cg() * taps(), p.tail.perGradGroup * p.Ho * p.Wo);
  }
  return pr;
}
fn gemmSplits() -> u32 { return select(1u, p.tail.parts, MODE == 2u); }
fn gemmKChunk(pr: Product) -> u32 { return select(pr.dims.z, p.tail.perPart * p.Ho * p.Wo, MODE == 2u); }

// Input pixel (image, channel) read at output position (y, x) by tap (kh, kw); 0 in the padding.
fn inputAt(image: u32, channel: u32, y: u32, x: u32, kh: u32, kw: u32) -> f32 {
  let iy = i32(y * p.SH + kh * p.DH) - i32(p.PH);
  let ix = i32(x * p.SW + kw * p.DW) - i32(p.PW);
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return In0[((image * p.C + channel) * p.H + u32(iy)) * p.W + u32(ix)];
}

// A(m, k..k+3).
fn fetchA(pr: Product, m: u32, k: u32, kEnd: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (m >= pr.dims.x) { return v; }
  if (MODE == 0u) {
    // W[o, c, kh, kw], k = (c, kh, kw): contiguous.
    let base = (pr.grp * og() + m) * pr.dims.z + k;
    for (var c = 0u; c < 4u; c++) { if (k + c < kEnd) { v[c] = In1[base + c]; } }
  } else if (MODE == 1u) {
    // W[o, m, kh, kw], k = (o, jh, jw) over the phase's taps kh = rows.tap0 + jh·rows.tapStep, kw likewise.
    let phaseTaps = pr.rows.taps * pr.cols.taps;
    var o = k / phaseTaps;
    var jh = (k % phaseTaps) / pr.cols.taps;
    var jw = (k % phaseTaps) % pr.cols.taps;
    for (var c = 0u; c < 4u; c++) {
      if (k + c >= kEnd) { break; }
      let kh = pr.rows.tap0 + jh * pr.rows.tapStep;
      let kw = pr.cols.tap0 + jw * pr.cols.tapStep;
      v[c] = In1[((pr.grp * og() + o) * cg() + m) * taps() + kh * p.KW + kw];
      jw++;
      if (jw == pr.cols.taps) { jw = 0u; jh++; if (jh == pr.rows.taps) { jh = 0u; o++; } }
    }
  } else {
    // dY[image, o, q], k = (example within the gradient group, q): contiguous within an image.
    let P = p.Ho * p.Wo;
    var q = k % P;
    var i = ((pr.firstImage + k / P) * p.O + pr.grp * og() + m) * P + q;
    for (var c = 0u; c < 4u; c++) {
      if (k + c >= kEnd) { break; }
      v[c] = In1[i];
      i++;
      q++;
      if (q == P) { q = 0u; i += (p.O - 1u) * P; }
    }
  }
  return v;
}

// B(k, n..n+3).
fn fetchB(pr: Product, k: u32, n: u32, kEnd: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (k >= kEnd) { return v; }
  if (MODE == 0u) {
    // X through tap k = (c, kh, kw) at output positions n = (image, y, x).
    let channel = pr.grp * cg() + k / taps();
    let kh = (k % taps()) / p.KW;
    let kw = (k % taps()) % p.KW;
    let P = p.Ho * p.Wo;
    var image = n / P;
    var y = (n % P) / p.Wo;
    var x = (n % P) % p.Wo;
    for (var c = 0u; c < 4u; c++) {
      if (n + c >= pr.dims.y) { break; }
      v[c] = inputAt(image, channel, y, x, kh, kw);
      x++;
      if (x == p.Wo) { x = 0u; y++; if (y == p.Ho) { y = 0u; image++; } }
    }
  } else if (MODE == 1u) {
    // dY[image, o, oy, ox] for tap k = (o, jh, jw) of the phase at its pixels n = (image, ty, tx): consecutive pixels
    // of a phase row read consecutive output columns.
    let phaseTaps = pr.rows.taps * pr.cols.taps;
    let o = k / phaseTaps;
    let dy = pr.rows.out0 - i32(((k % phaseTaps) / pr.cols.taps) * pr.rows.outStep);
    let dx = pr.cols.out0 - i32(((k % phaseTaps) % pr.cols.taps) * pr.cols.outStep);
    let pixels = pr.rows.pixels * pr.cols.pixels;
    var image = n / pixels;
    var ty = (n % pixels) / pr.cols.pixels;
    var tx = (n % pixels) % pr.cols.pixels;
    for (var c = 0u; c < 4u; c++) {
      if (n + c >= pr.dims.y) { break; }
      let oy = i32(ty) + dy;
      let ox = i32(tx) + dx;
      if (oy >= 0 && ox >= 0 && oy < i32(p.Ho) && ox < i32(p.Wo)) {
        v[c] = In0[((image * p.O + pr.grp * og() + o) * p.Ho + u32(oy)) * p.Wo + u32(ox)];
      }
      tx++;
      if (tx == pr.cols.pixels) { tx = 0u; ty++; if (ty == pr.rows.pixels) { ty = 0u; image++; } }
    }
  } else {
    // X at position k = (example, y, x) through taps n = (c, kh, kw).
    let P = p.Ho * p.Wo;
    let image = pr.firstImage + k / P;
    let y = (k % P) / p.Wo;
    let x = (k % P) % p.Wo;
    var ci = n / taps();
    var kh = (n % taps()) / p.KW;
    var kw = (n % taps()) % p.KW;
    for (var c = 0u; c < 4u; c++) {
      if (n + c >= pr.dims.y) { break; }
      v[c] = inputAt(image, pr.grp * cg() + ci, y, x, kh, kw);
      kw++;
      if (kw == p.KW) { kw = 0u; kh++; if (kh == p.KH) { kh = 0u; ci++; } }
    }
  }
  return v;
}

fn storeC(pr: Product, s: u32, m: u32, n: u32, v: f32) {
  if (MODE == 0u) {
    let P = p.Ho * p.Wo;
    let o = pr.grp * og() + m;
    let y = v + select(0.0, Bias[o], p.tail.hasBias != 0u);
    Out[((n / P) * p.O + o) * P + n % P] = select(y, max(y, 0.0), EPI_RELU);
  } else if (MODE == 1u) {
    let pixels = pr.rows.pixels * pr.cols.pixels;
    let iy = pr.phase.x + ((n % pixels) / pr.cols.pixels) * p.SH;
    let ix = pr.phase.y + ((n % pixels) % pr.cols.pixels) * p.SW;
    let i = (((n / pixels) * p.C + pr.grp * cg() + m) * p.H + iy) * p.W + ix;
    Out[i] = select(v, select(0.0, v, Mask[i] > 0.0), EPI_MASK);
  } else {
    let part = pr.gradGroup * p.tail.parts + s;
    Out[(part * p.O + pr.grp * og() + m) * cg() * taps() + n] = v;
  }
}

// 2D pooling over NCHW tensors viewed as planes [NC, H, W] -> [NC, Ho, Wo], forward and backward, with PyTorch's
// window rules. Forward kernels run one invocation per output, backward kernels one per input: each input gathers
// the gradient of the windows that contain it, so overlapping windows need no atomics and the sums are deterministic.
// Bindings: A = the input (X, or dY in backward), B = a second input (the argmax in max_backward), Out = the result.
// The grid may be 2D for large tensors: index = x + y * rowStride.

struct Params {
  NC: u32, H: u32, W: u32, Ho: u32,
  Wo: u32, KH: u32, KW: u32, SH: u32,
  SW: u32, PH: u32, PW: u32, countIncludePad: u32,
  rowStride: u32, _a: u32, _b: u32, _c: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

fn index(gid: vec3<u32>) -> u32 { return gid.x + gid.y * p.rowStride; }

// Element i of a stack of rows x cols planes as (plane, row, column).
fn position(i: u32, rows: u32, cols: u32) -> vec3<u32> {
  let r = i % (rows * cols);
  return vec3<u32>(i / (rows * cols), r / cols, r % cols);
}

// First and one-past-last row (or column) of window `o` clipped to the image, for a kernel k, stride s, padding pad.
fn windowRange(o: u32, k: u32, s: u32, pad: u32, size: u32) -> vec2<u32> {
  let start = i32(o * s) - i32(pad);
  return vec2<u32>(u32(max(start, 0)), u32(clamp(start + i32(k), 0, i32(size))));
}

// Windows [first, last] (inclusive; empty when first > last) of a pool that contain input row (or column) i.
fn windowsContaining(i: u32, k: u32, s: u32, pad: u32, outSize: u32) -> vec2<i32> {
  let lo = i32(i + pad) - i32(k) + 1; // the first window must start at or after lo
  let first = select((lo + i32(s) - 1) / i32(s), 0, lo <= 0);
  let last = min(i32(i + pad) / i32(s), i32(outSize) - 1);
  return vec2<i32>(first, last);
}

// Max over each window (padding never wins); the argmax kernel records which input won, first in scan order on ties
// (PyTorch's rule), as a float index into the plane (exact below 2^24 values per plane).
fn windowMax(i: u32) -> vec2<f32> {
  let o = position(i, p.Ho, p.Wo);
  let hs = windowRange(o.y, p.KH, p.SH, p.PH, p.H);
  let ws = windowRange(o.z, p.KW, p.SW, p.PW, p.W);
  let base = o.x * p.H * p.W;
  // Windows are never empty (padding is at most half the kernel): start from the first input in the window.
  var at = hs.x * p.W + ws.x;
  var best = A[base + at];
  for (var h = hs.x; h < hs.y; h++) {
    for (var w = ws.x; w < ws.y; w++) {
      let v = A[base + h * p.W + w];
      if (v > best) { best = v; at = h * p.W + w; }
    }
  }
  return vec2<f32>(best, f32(at));
}

@compute @workgroup_size(64)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  Out[i] = windowMax(i).x;
}

@compute @workgroup_size(64)
fn max_argmax(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  Out[i] = windowMax(i).y;
}

// dX[plane, h, w] = sum of dY over the windows containing (h, w) whose argmax is (h, w). A = dY, B = argmax.
@compute @workgroup_size(64)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.H * p.W) { return; }
  let at = position(i, p.H, p.W);
  let oh = windowsContaining(at.y, p.KH, p.SH, p.PH, p.Ho);
  let ow = windowsContaining(at.z, p.KW, p.SW, p.PW, p.Wo);
  let base = at.x * p.Ho * p.Wo;
  let me = f32(at.y * p.W + at.z);
  var s = 0.0;
  for (var y = oh.x; y <= oh.y; y++) {
    for (var x = ow.x; x <= ow.y; x++) {
      let o = base + u32(y) * p.Wo + u32(x);
      if (B[o] == me) { s += A[o]; }
    }
  }
  Out[i] = s;
}

// Sum of the input plane starting at `base` over rows hs.x..hs.y and columns ws.x..ws.y (ends excluded).
fn windowSum(base: u32, hs: vec2<u32>, ws: vec2<u32>) -> f32 {
  var s = 0.0;
  for (var h = hs.x; h < hs.y; h++) {
    for (var w = ws.x; w < ws.y; w++) { s += A[base + h * p.W + w]; }
  }
  return s;
}

// PyTorch's avg_pool2d divisor: the window clipped to the padded image (count_include_pad) or to the image.
fn avgDivisor(oh: u32, ow: u32) -> f32 {
  if (p.countIncludePad != 0u) {
    let h0 = i32(oh * p.SH) - i32(p.PH);
    let w0 = i32(ow * p.SW) - i32(p.PW);
    let h1 = min(h0 + i32(p.KH), i32(p.H + p.PH));
    let w1 = min(w0 + i32(p.KW), i32(p.W + p.PW));
    return f32((h1 - h0) * (w1 - w0));
  }
  let hs = windowRange(oh, p.KH, p.SH, p.PH, p.H);
  let ws = windowRange(ow, p.KW, p.SW, p.PW, p.W);
  return f32((hs.y - hs.x) * (ws.y - ws.x));
}

@compute @workgroup_size(64)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  let o = position(i, p.Ho, p.Wo);
  let hs = windowRange(o.y, p.KH, p.SH, p.PH, p.H);
  let ws = windowRange(o.z, p.KW, p.SW, p.PW, p.W);
  let s = windowSum(o.x * p.H * p.W, hs, ws);
  // A window entirely in the padding (possible only in ceil mode) averages nothing: 0, as in PyTorch.
  Out[i] = select(0.0, s / avgDivisor(o.y, o.z), hs.x < hs.y && ws.x < ws.y);
}

@compute @workgroup_size(64)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.H * p.W) { return; }
  let at = position(i, p.H, p.W);
  let oh = windowsContaining(at.y, p.KH, p.SH, p.PH, p.Ho);
  let ow = windowsContaining(at.z, p.KW, p.SW, p.PW, p.Wo);
  let base = at.x * p.Ho * p.Wo;
  var s = 0.0;
  for (var y = oh.x; y <= oh.y; y++) {
    for (var x = ow.x; x <= ow.y; x++) {
      s += A[base + u32(y) * p.Wo + u32(x)] / avgDivisor(u32(y), u32(x));
    }
  }
  Out[i] = s;
}

// Adaptive average pooling: window o of n over an axis of `size` is [floor(o*size/n), ceil((o+1)*size/n)).
fn adaptiveRange(o: u32, n: u32, size: u32) -> vec2<u32> {
  return vec2<u32>((o * size) / n, ((o + 1u) * size + n - 1u) / n);
}

@compute @workgroup_size(64)
fn adaptive_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  let o = position(i, p.Ho, p.Wo);
  let hs = adaptiveRange(o.y, p.Ho, p.H);
  let ws = adaptiveRange(o.z, p.Wo, p.W);
  let s = windowSum(o.x * p.H * p.W, hs, ws);
  Out[i] = s / f32((hs.y - hs.x) * (ws.y - ws.x));
}

// Input row h lies in adaptive windows floor(h*n/size) ..= ceil((h+1)*n/size) - 1.
@compute @workgroup_size(64)
fn adaptive_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i >= p.NC * p.H * p.W) { return; }
  let at = position(i, p.H, p.W);
  let h = at.y;
  let w = at.z;
  let base = at.x * p.Ho * p.Wo;
  var s = 0.0;
  for (var y = (h * p.Ho) / p.H; y < ((h + 1u) * p.Ho + p.H - 1u) / p.H; y++) {
    let hs = adaptiveRange(y, p.Ho, p.H);
    for (var x = (w * p.Wo) / p.W; x < ((w + 1u) * p.Wo + p.W - 1u) / p.W; x++) {
      let ws = adaptiveRange(x, p.Wo, p.W);
      s += A[base + y * p.Wo + x] / f32((hs.y - hs.x) * (ws.y - ws.x));
    }
  }
  Out[i] = s;
}

// Elementwise ops over n values. Unary ops ignore Y (bound to X by the engine); only a masked add reads Mask (bound to Y
// otherwise).
// The grid may be 2D for large n: index = x + y * rowStride.

struct Params { n: u32, rowStride: u32, alpha: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;
@group(0) @binding(4) var<storage, read> Mask: array<f32>;

fn index(gid: vec3<u32>) -> u32 { return gid.x + gid.y * p.rowStride; }

// A ReLU folded into `add` (a residual connection followed by its ReLU).
override RELU: bool = false;
// A ReLU's gradient folded into `add`: the sum of the gradients reaching a ReLU's output (a residual block's input feeds
// both its branches), zero where Mask, the ReLU's output, is not positive.
override MASK: bool = false;

@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) {
    let v = X[i] + Y[i];
    if (MASK) { Out[i] = select(0.0, v, Mask[i] > 0.0); } else { Out[i] = select(v, max(v, 0.0), RELU); }
  }
}

@compute @workgroup_size(64)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { Out[i] = X[i] * Y[i]; }
}

// Out = alpha * X
@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { Out[i] = p.alpha * X[i]; }
}

@compute @workgroup_size(64)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { Out[i] = max(X[i], 0.0); }
}

// Gradient of relu: X is the upstream gradient, Y the relu's input or output; zero where the input was <= 0 (PyTorch's
// choice at 0), i.e. where the output is 0.
@compute @workgroup_size(64)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { Out[i] = select(0.0, X[i], Y[i] > 0.0); }
}

// Parameter update with PyTorch's SGD semantics:
//   buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);  w -= lr * buf
// Weight decay is added by weight_decay.wgsl, before or after the gradient transform; here it is 0.

struct Params { n: u32, rowStride: u32, groups: u32, first: u32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> Buf: array<f32>;

@compute @workgroup_size(64)
fn step(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  var g = G[i];
  if (p.momentum != 0.0) {
    var b = g;
    if (p.first == 0u) { b = p.momentum * Buf[i] + (1.0 - p.dampening) * g; }
    Buf[i] = b;
    g = b;
  }
  W[i] -= p.lr * g;
}

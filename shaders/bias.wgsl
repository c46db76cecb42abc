// Out[r, c] = X[r, c] + Bias[c] for X of shape [rows, N] (forward of a bias add), then max(., 0) with RELU (a fused ReLU).

struct Params { n: u32, rowStride: u32, N: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

override RELU: bool = false;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i < p.n) {
    let v = X[i] + Bias[i % p.N];
    Out[i] = select(v, max(v, 0.0), RELU);
  }
}

// PyTorch-style weight decay on a gradient: G += weight_decay * W. For a grouped gradient of G equal slices,
// each slice gets weight_decay / G * W, so that the slices still sum to g + weight_decay * W.

struct Params { n: u32, rowStride: u32, groups: u32, weightDecay: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let d = p.weightDecay / f32(p.groups) * W[i];
  for (var k = 0u; k < p.groups; k++) { G[k * p.n + i] += d; }
}

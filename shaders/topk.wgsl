// Top-k correctness over rows of logits [B, C] with integer labels; one invocation per example.
// The label's rank is the number of classes scoring above it, ties counted for the lower index first
// (as the argmax of `correct` does), so the result does not depend on any sort order. A NaN label score is wrong.

struct Params { B: u32, C: u32, K: u32, _a: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Logits: array<f32>;
@group(0) @binding(2) var<storage, read> Labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.B) { return; }
  let base = b * p.C;
  let label = u32(Labels[b]);
  let v = Logits[base + label];
  var rank = 0u;
  for (var j = 0u; j < p.C; j++) {
    let w = Logits[base + j];
    if (w > v || (w == v && j < label)) { rank++; }
  }
  Out[b] = select(0.0, 1.0, rank < p.K && v == v);
}

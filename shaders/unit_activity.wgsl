// Running maximum of a ReLU layer's output per unit, for counting units that never fire.
// X is viewed as [N, C, S] (examples, units, positions per unit: 1 for a dense layer, H * W for a conv
// channel); Max[c] = max(Max[c], X[n, c, s] over n and s). Max persists across batches; the engine
// clears it before a pass. One invocation per unit, a fixed order, no atomics.

struct Params { N: u32, C: u32, S: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Max: array<f32>;

@compute @workgroup_size(64)
fn max_accumulate(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var m = Max[c];
  for (var n = 0u; n < p.N; n++) {
    let base = (n * p.C + c) * p.S;
    for (var s = 0u; s < p.S; s++) { m = max(m, X[base + s]); }
  }
  Max[c] = m;
}

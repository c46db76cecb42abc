// Parameter update with PyTorch's SGD semantics:
//   buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);  w -= lr * buf
// Weight decay is added here (g + weight_decay * w, before momentum, as PyTorch) when nothing else reads the decayed
// gradient; otherwise weight_decay.wgsl adds it before or after the gradient transform and it is 0 here.
// Four values at a time, PER_INVOCATION vec4s per invocation (a CPU adapter pays per invocation and per load
// instruction, and a vec4 load costs about what a scalar one does). The last vec4 may cover the buffers' padding
// past n (they are allocated in whole vec4s), which nothing else reads.

struct Params { n4: u32, _a: u32, _b: u32, first: u32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Buf: array<vec4<f32>>;

const PER_INVOCATION = 4u;

@compute @workgroup_size(64)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let first = (wid.x + wid.y * nwg.x) * 64u * PER_INVOCATION + li;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let i = first + j * 64u;
    if (i < p.n4) {
      var g = G[i];
      if (p.weightDecay != 0.0) { g += p.weightDecay * W[i]; }
      if (p.momentum != 0.0) {
        var b = g;
        if (p.first == 0u) { b = p.momentum * Buf[i] + (1.0 - p.dampening) * g; }
        Buf[i] = b;
        g = b;
      }
      W[i] -= p.lr * g;
    }
  }
}

// Parameter update with PyTorch's SGD semantics:
//   buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);  w -= lr * buf
// Weight decay is added here (g + weight_decay * w, before momentum, as PyTorch) when nothing else reads the decayed
// gradient; otherwise weight_decay.wgsl adds it before or after the gradient transform and it is 0 here.
// Two parameters per dispatch (slots 0 and 1; the second may be empty, n4 = 0): an update is a few passes over small
// buffers, so a step's fixed cost per dispatch would otherwise dominate for biases and batch-norm scales.
// Four values at a time, PER_INVOCATION vec4s per invocation (a CPU adapter pays per invocation and per load
// instruction, and a vec4 load costs about what a scalar one does). The last vec4 may cover the buffers' padding
// past n (they are allocated in whole vec4s), which nothing else reads.

// n4: vec4s of each slot's parameter. Words 3 and 4 (first, lr) are rewritten in place by engine/optim.ts.
struct Params { n4: vec2<u32>, _a: u32, first: u32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> G0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Buf0: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> W1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> G1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> Buf1: array<vec4<f32>>;

const PER_INVOCATION = 4u;

// Whether the momentum buffer holds a previous step's value (on the first step it is set to the gradient).
fn hasHistory() -> bool { return p.momentum != 0.0 && p.first == 0u; }

// The step direction (the new momentum buffer value when momentum is on) from gradient g, weight w and the old buffer.
fn direction(g0: vec4<f32>, w: vec4<f32>, buf: vec4<f32>) -> vec4<f32> {
  var g = g0;
  if (p.weightDecay != 0.0) { g += p.weightDecay * w; }
  if (hasHistory()) { g = p.momentum * buf + (1.0 - p.dampening) * g; }
  return g;
}

@compute @workgroup_size(64)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let first = (wid.x + wid.y * nwg.x) * 64u * PER_INVOCATION + li;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let i = first + j * 64u;
    if (i < p.n4.x) {
      var b = vec4<f32>(0.0);
      if (hasHistory()) { b = Buf0[i]; }
      let d = direction(G0[i], W0[i], b);
      if (p.momentum != 0.0) { Buf0[i] = d; }
      W0[i] -= p.lr * d;
    }
    if (i < p.n4.y) {
      var b = vec4<f32>(0.0);
      if (hasHistory()) { b = Buf1[i]; }
      let d = direction(G1[i], W1[i], b);
      if (p.momentum != 0.0) { Buf1[i] = d; }
      W1[i] -= p.lr * d;
    }
  }
}

// RA3 / RM3 (experiments/rules/rolling.ts): the update is the coordinate-wise mean (RA3) or median (RM3)
// of the current gradient and the previous two, kept in a ring [3, n4] of vec4s. As in the authors' code the
// ring starts as three copies of the first gradient and no update is made until three gradients exist.
// The gradient buffer G is replaced in place by the combined gradient. Values move four at a time (vec4
// loads and stores are about twice as fast as scalar ones on a CPU adapter); the last vec4 may cover the
// buffer's padding past n, which nothing else reads.

override MEDIAN: bool = true;

struct Params { n4: u32, rowStride: u32, _a: u32, _b: u32 }
// slot: where this step's gradient goes (step % 3); phase: 0 on the first step, 1 on the second, 2 after.
struct Step { slot: u32, phase: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> G: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Ring: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n4) { return; }
  let g = G[i];
  if (step.phase == 0u) {
    Ring[i] = g;
    Ring[p.n4 + i] = g;
    Ring[2u * p.n4 + i] = g;
    G[i] = vec4<f32>(0.0);
    return;
  }
  Ring[step.slot * p.n4 + i] = g;
  if (step.phase == 1u) {
    G[i] = vec4<f32>(0.0);
    return;
  }
  let a = Ring[((step.slot + 1u) % 3u) * p.n4 + i];
  let b = Ring[((step.slot + 2u) % 3u) * p.n4 + i];
  if (MEDIAN) {
    G[i] = max(min(g, a), min(max(g, a), b));
  } else {
    G[i] = (g + a + b) / 3.0;
  }
}

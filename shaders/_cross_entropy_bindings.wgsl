// The bindings of both cross-entropy kernels (cross_entropy.wgsl and cross_entropy_subgroup.wgsl), which share
// their host code: logits [B, C], integer labels [B], the upstream gradient [B] and the output.
struct Params { B: u32, C: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Logits: array<f32>;
@group(0) @binding(2) var<storage, read> Labels: array<i32>;
@group(0) @binding(3) var<storage, read> Upstream: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<f32>;

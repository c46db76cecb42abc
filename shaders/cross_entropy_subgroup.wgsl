// Softmax cross-entropy (as cross_entropy.wgsl) with one workgroup of 32 invocations per example instead of one
// invocation: the lanes stride over the classes and combine their maxima and sums with subgroup operations, then
// across subgroups through workgroup memory in a fixed order (any subgroup size). For wide heads (1000 classes) on
// GPUs with the `subgroups` feature; the sums' order differs from the one-invocation kernel's by rounding only.
enable subgroups;

//#include _cross_entropy_bindings

const LANES = 32u;
var<workgroup> partialF: array<f32, LANES>;
var<workgroup> partialU: array<u32, LANES>;

// Each subgroup's first lane leaves its subgroup's result at its own index, the other lanes a neutral value, so the
// workgroup's result is the same whichever way the invocations are grouped into subgroups.
fn workgroupMax(v: f32, lane: u32, sub: u32) -> f32 {
  let s = subgroupMax(v);
  partialF[lane] = select(-3.40282346e38f, s, sub == 0u);
  workgroupBarrier();
  var m = partialF[0];
  for (var i = 1u; i < LANES; i++) { m = max(m, partialF[i]); }
  workgroupBarrier();
  return m;
}

fn workgroupSum(v: f32, lane: u32, sub: u32) -> f32 {
  let s = subgroupAdd(v);
  partialF[lane] = select(0.0, s, sub == 0u);
  workgroupBarrier();
  var t = 0.0;
  for (var i = 0u; i < LANES; i++) { t += partialF[i]; }
  workgroupBarrier();
  return t;
}

fn workgroupMinU(v: u32, lane: u32, sub: u32) -> u32 {
  let s = subgroupMin(v);
  partialU[lane] = select(0xffffffffu, s, sub == 0u);
  workgroupBarrier();
  var m = partialU[0];
  for (var i = 1u; i < LANES; i++) { m = min(m, partialU[i]); }
  workgroupBarrier();
  return m;
}

fn rowMax(base: u32, lane: u32, sub: u32) -> f32 {
  var m = -3.40282346e38f;
  for (var j = lane; j < p.C; j += LANES) { m = max(m, Logits[base + j]); }
  return workgroupMax(m, lane, sub);
}

fn rowSumExp(base: u32, m: f32, lane: u32, sub: u32) -> f32 {
  var s = 0.0;
  for (var j = lane; j < p.C; j += LANES) { s += exp(Logits[base + j] - m); }
  return workgroupSum(s, lane, sub);
}

@compute @workgroup_size(LANES)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sub: u32) {
  let b = wid.x;
  let base = b * p.C;
  let m = rowMax(base, lane, sub);
  let lse = m + log(rowSumExp(base, m, lane, sub));
  if (lane == 0u) { Out[b] = lse - Logits[base + u32(Labels[b])]; }
}

@compute @workgroup_size(LANES)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sub: u32) {
  let b = wid.x;
  let base = b * p.C;
  let m = rowMax(base, lane, sub);
  let inv = 1.0 / rowSumExp(base, m, lane, sub);
  let label = u32(Labels[b]);
  let up = Upstream[b];
  for (var j = lane; j < p.C; j += LANES) {
    Out[base + j] = (exp(Logits[base + j] - m) * inv - select(0.0, 1.0, j == label)) * up;
  }
}

// 1 when the first index of the row's maximum equals the label: each lane's first maximum, then the smallest index
// among the lanes holding the row's maximum.
@compute @workgroup_size(LANES)
fn correct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sub: u32) {
  let b = wid.x;
  let base = b * p.C;
  var best = 0xffffffffu;
  var m = -3.40282346e38f;
  for (var j = lane; j < p.C; j += LANES) {
    let v = Logits[base + j];
    if (best == 0xffffffffu || v > m) { m = v; best = j; }
  }
  let top = workgroupMax(m, lane, sub);
  let first = workgroupMinU(select(0xffffffffu, best, best != 0xffffffffu && m == top), lane, sub);
  if (lane == 0u) { Out[b] = select(0.0, 1.0, first == u32(Labels[b])); }
}

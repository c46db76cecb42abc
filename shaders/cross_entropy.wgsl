// Softmax cross-entropy over rows of logits [B, C] with integer labels; one invocation per example.

//#include _cross_entropy_bindings

fn rowMax(base: u32) -> f32 {
  var m = Logits[base];
  for (var j = 1u; j < p.C; j++) { m = max(m, Logits[base + j]); }
  return m;
}

fn rowSumExp(base: u32, m: f32) -> f32 {
  var s = 0.0;
  for (var j = 0u; j < p.C; j++) { s += exp(Logits[base + j] - m); }
  return s;
}

// Out[b] = logsumexp(logits[b]) - logits[b, label[b]]. Upstream is unused here.
@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.B) { return; }
  let base = b * p.C;
  let m = rowMax(base);
  let lse = m + log(rowSumExp(base, m));
  Out[b] = lse - Logits[base + u32(Labels[b])];
}

// Out[b, j] = (softmax(logits[b])_j - [j == label]) * upstream[b]; one invocation per example.
@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.B) { return; }
  let base = b * p.C;
  let m = rowMax(base);
  let inv = 1.0 / rowSumExp(base, m);
  let label = u32(Labels[b]);
  let up = Upstream[b];
  for (var j = 0u; j < p.C; j++) {
    let s = exp(Logits[base + j] - m) * inv;
    Out[base + j] = (s - select(0.0, 1.0, j == label)) * up;
  }
}

// Out[b] = 1 when the first index of the row's maximum equals the label, else 0.
@compute @workgroup_size(64)
fn correct(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.B) { return; }
  let base = b * p.C;
  var best = 0u;
  var m = Logits[base];
  for (var j = 1u; j < p.C; j++) {
    let v = Logits[base + j];
    if (v > m) { m = v; best = j; }
  }
  Out[b] = select(0.0, 1.0, best == u32(Labels[b]));
}

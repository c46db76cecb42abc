// Batch normalisation's per-channel reductions in one pass each, for the gpu plans and small per-channel counts
// (engine/ops/batchnorm.ts chooses): one workgroup per channel reduces the values of each group in turn, every
// invocation a strided subset, then a fixed tree in workgroup memory. Deterministic (no atomics, a fixed order) and
// one dispatch where shaders/batchnorm.wgsl's two-level reductions take two; the same results up to rounding.
// Layout as there: X [N, C, HW] in `groups` groups of N/groups consecutive examples, statistics [statsGroups, 2, C].
//
// Bindings (unused ones are bound to small dummies):
//   X  input values      Dy  upstream gradient      Stats  [statsGroups, 2, C] (gradient sums)
//   Out  statistics [groups, 2, C], or gradient sums [groups, 2, C]
//   RunningMean, RunningVar  the running buffers (statistics with UPDATE), or the gradients of beta and gamma (sums)
//   Counter  num_batches_tracked (statistics with COUNT)

//#include _batchnorm_params
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Dy: array<f32>;
@group(0) @binding(3) var<storage, read> Stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<f32>;
@group(0) @binding(5) var<storage, read_write> RunningMean: array<f32>;
@group(0) @binding(6) var<storage, read_write> RunningVar: array<f32>;
@group(0) @binding(7) var<storage, read_write> Counter: array<f32>;

// Statistics: fold each group into the running buffers (UPDATE); advance num_batches_tracked by the groups (COUNT).
override UPDATE: bool = false;
override COUNT: bool = false;
// Gradient sums: store the gradients of beta and gamma per group [groups, C] (true) or summed in group order into [C].
override BETA_PER_GROUP: bool = false;
override GAMMA_PER_GROUP: bool = false;

const WG = 256u;

// Partials per invocation: count, shift (its first value), mean minus shift, M2 (as shaders/batchnorm.wgsl's lanes).
var<workgroup> wCount: array<f32, WG>;
var<workgroup> wShift: array<f32, WG>;
var<workgroup> wRel: array<f32, WG>;
var<workgroup> wM2: array<f32, WG>;

// Chan et al.'s pairwise merge of partial b into partial a, means relative to a's shift.
fn merge(a: u32, b: u32) {
  let nb = wCount[b];
  if (nb == 0.0) { return; }
  let na = wCount[a];
  if (na == 0.0) {
    wCount[a] = nb;
    wShift[a] = wShift[b];
    wRel[a] = wRel[b];
    wM2[a] = wM2[b];
    return;
  }
  let delta = ((wShift[b] - wShift[a]) + wRel[b]) - wRel[a];
  let total = na + nb;
  wRel[a] += delta * (nb / total);
  wM2[a] += wM2[b] + delta * delta * (na * nb / total);
  wCount[a] = total;
}

// Statistics of channel wid.x: mean and biased variance per group, and with UPDATE the running update in group order
// (unbiased variance, as PyTorch for consecutive micro-batches).
@compute @workgroup_size(WG)
fn stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wid.x;
  if (COUNT && c == 0u && t == 0u) { Counter[0] += f32(p.groups); }
  let ng = p.N / p.groups;
  // Invocation t reads positions t, t + WG, ... of the group's ng * HW values, stepping (n, hw) without a division.
  let stepN = WG / p.HW;
  let stepHW = WG % p.HW;
  for (var k = 0u; k < p.groups; k++) {
    var n = t / p.HW;
    var hw = t % p.HW;
    let first = k * ng;
    var shift = 0.0;
    if (n < ng) { shift = X[((first + n) * p.C + c) * p.HW + hw]; }
    var s1 = 0.0;
    var s2 = 0.0;
    var count = 0.0;
    while (n < ng) {
      let v = X[((first + n) * p.C + c) * p.HW + hw] - shift;
      s1 += v;
      s2 += v * v;
      count += 1.0;
      n += stepN;
      hw += stepHW;
      if (hw >= p.HW) { hw -= p.HW; n += 1u; }
    }
    wCount[t] = count;
    wShift[t] = shift;
    wRel[t] = select(0.0, s1 / count, count > 0.0);
    wM2[t] = select(0.0, max(s2 - s1 * s1 / count, 0.0), count > 0.0);
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (t < s) { merge(t, t + s); }
      workgroupBarrier();
    }
    if (t == 0u) {
      let mean = wShift[0] + wRel[0];
      let total = wCount[0];
      Out[statIndex(k, 0u, c)] = mean;
      Out[statIndex(k, 1u, c)] = wM2[0] / total;
      if (UPDATE) {
        RunningMean[c] = (1.0 - p.momentum) * RunningMean[c] + p.momentum * mean;
        RunningVar[c] = (1.0 - p.momentum) * RunningVar[c] + p.momentum * (wM2[0] / (total - 1.0));
      }
    }
    workgroupBarrier();
  }
}

var<workgroup> wDy: array<f32, WG>;
var<workgroup> wDyXhat: array<f32, WG>;

// Gradient sums of channel wid.x per group: Out [groups, 2, C] = (sum dy, sum dy * xhat), and the gradients of beta
// (RunningMean) and gamma (RunningVar), per group or summed over the groups as the *_PER_GROUP constants say.
@compute @workgroup_size(WG)
fn grad_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wid.x;
  let ng = p.N / p.groups;
  let stepN = WG / p.HW;
  let stepHW = WG % p.HW;
  var betaSum = 0.0;
  var gammaSum = 0.0;
  for (var k = 0u; k < p.groups; k++) {
    let s = k * p.statsGroups / p.groups;
    let mean = Stats[statIndex(s, 0u, c)];
    let r = inverseSqrt(Stats[statIndex(s, 1u, c)] + p.eps);
    let first = k * ng;
    var n = t / p.HW;
    var hw = t % p.HW;
    var sdy = 0.0;
    var sdyx = 0.0;
    while (n < ng) {
      let idx = ((first + n) * p.C + c) * p.HW + hw;
      let dy = Dy[idx];
      sdy += dy;
      sdyx += dy * (X[idx] - mean) * r;
      n += stepN;
      hw += stepHW;
      if (hw >= p.HW) { hw -= p.HW; n += 1u; }
    }
    wDy[t] = sdy;
    wDyXhat[t] = sdyx;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (t < h) {
        wDy[t] += wDy[t + h];
        wDyXhat[t] += wDyXhat[t + h];
      }
      workgroupBarrier();
    }
    if (t == 0u) {
      Out[statIndex(k, 0u, c)] = wDy[0];
      Out[statIndex(k, 1u, c)] = wDyXhat[0];
      if (BETA_PER_GROUP) { RunningMean[k * p.C + c] = wDy[0]; } else { betaSum += wDy[0]; }
      if (GAMMA_PER_GROUP) { RunningVar[k * p.C + c] = wDyXhat[0]; } else { gammaSum += wDyXhat[0]; }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    if (!BETA_PER_GROUP) { RunningMean[c] = betaSum; }
    if (!GAMMA_PER_GROUP) { RunningVar[c] = gammaSum; }
  }
}

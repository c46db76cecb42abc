// Batch normalisation over the channels of X [N, C, HW] (HW = H * W, or 1 for [N, C]).
// The batch splits into `groups` equal groups of consecutive examples; each group has its own statistics
// (training with gradient groups) or shares the running ones (statsGroups = 1 in eval mode).
//
// Per-channel reductions are two-level and deterministic (no atomics): `lanes` invocations per
// (group, channel) each reduce a strided subset of the group's N/groups * HW values (adjacent lanes read
// adjacent positions), then one invocation per channel combines the lane partials in a fixed order. (The gpu plans
// reduce channels with few values in one pass instead: shaders/batchnorm_onepass.wgsl.)
// Statistics are [statsGroups, 2, C]: mean, then biased variance.
//
// Every entry point shares this binding list (unused ones are bound to small dummies):
//   X    input values, or lane partials / reduced sums for the combining kernels
//   Dy   upstream gradient          Stats  [statsGroups, 2, C]
//   Gamma, Shift  scale and beta (forward) or the reduced sums [groups, 2, C] (input gradient)
//   Out  the kernel's result       RunningMean, RunningVar  the module's running buffers
//   (stats_partial with COUNT binds num_batches_tracked as RunningMean, and grad_combine the gradients of beta
//   and gamma as RunningMean and RunningVar: passes saved per layer and step within 8 storage buffers)

//#include _batchnorm_params
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Dy: array<f32>;
@group(0) @binding(3) var<storage, read> Stats: array<f32>;
@group(0) @binding(4) var<storage, read> Gamma: array<f32>;
@group(0) @binding(5) var<storage, read> Shift: array<f32>;
@group(0) @binding(6) var<storage, read_write> Out: array<f32>;
@group(0) @binding(7) var<storage, read_write> RunningMean: array<f32>;
@group(0) @binding(8) var<storage, read_write> RunningVar: array<f32>;

// True when the combining kernel also updates the running buffers (training with running statistics).
override UPDATE: bool = false;
// True for the training-mode input gradient (batch statistics depend on the input).
override TRAIN: bool = true;
// True when stats_partial also advances num_batches_tracked (bound as RunningMean) by the number of groups.
override COUNT: bool = false;
// How grad_combine stores the gradients of beta (bound as RunningMean) and gamma (bound as RunningVar):
// per group [groups, C] when true, summed over the groups in group order into [C] when false.
override BETA_PER_GROUP: bool = false;
override GAMMA_PER_GROUP: bool = false;

fn imagesPerGroup() -> u32 { return p.N / p.groups; }

fn rstd(s: u32, c: u32) -> f32 { return inverseSqrt(Stats[statIndex(s, 1u, c)] + p.eps); }

// Lane partials of group k, channel c: count, shift (the lane's first value), mean minus shift, and M2
// (sum of squared deviations). Values are taken relative to the shift so that the single pass does not
// cancel catastrophically, and the shift is kept apart so that a large common offset is never rounded.
@compute @workgroup_size(64)
fn stats_partial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let lane = gid.x;
  let c = gid.y;
  let k = gid.z;
  if (COUNT && lane == 0u && c == 0u && k == 0u) { RunningMean[0] += f32(p.groups); }
  if (lane >= p.lanes) { return; }
  let ng = imagesPerGroup();
  var n = lane / p.HW;
  var hw = lane % p.HW;
  let first = k * ng;
  let shift = X[((first + n) * p.C + c) * p.HW + hw];
  var s1 = 0.0;
  var s2 = 0.0;
  var count = 0.0;
  while (n < ng) {
    let v = X[((first + n) * p.C + c) * p.HW + hw] - shift;
    s1 += v;
    s2 += v * v;
    count += 1.0;
    n += p.laneStepN;
    hw += p.laneStepHW;
    if (hw >= p.HW) { hw -= p.HW; n += 1u; }
  }
  let o = ((k * p.C + c) * p.lanes + lane) * 4u;
  Out[o] = count;
  Out[o + 1u] = shift;
  Out[o + 2u] = s1 / count;
  Out[o + 3u] = max(s2 - s1 * s1 / count, 0.0);
}

// Merge the lane partials of each group in lane order (Chan et al.'s pairwise update), with means
// relative to the first lane's shift so that a large common offset is rounded once, at the end. Write the
// statistics and, with UPDATE, fold each group into the running buffers in group order, as PyTorch would
// if the groups were fed as consecutive micro-batches (unbiased variance in the running estimate).
@compute @workgroup_size(64)
fn stats_combine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }
  for (var k = 0u; k < p.groups; k++) {
    let base = (k * p.C + c) * p.lanes * 4u;
    let origin = X[base + 1u];
    var count = 0.0;
    var rel = 0.0;
    var m2 = 0.0;
    for (var l = 0u; l < p.lanes; l++) {
      let o = base + l * 4u;
      let nb = X[o];
      let delta = ((X[o + 1u] - origin) + X[o + 2u]) - rel;
      let total = count + nb;
      rel += delta * (nb / total);
      m2 += X[o + 3u] + delta * delta * (count * nb / total);
      count = total;
    }
    let mean = origin + rel;
    Out[statIndex(k, 0u, c)] = mean;
    Out[statIndex(k, 1u, c)] = m2 / count;
    if (UPDATE) {
      RunningMean[c] = (1.0 - p.momentum) * RunningMean[c] + p.momentum * mean;
      RunningVar[c] = (1.0 - p.momentum) * RunningVar[c] + p.momentum * (m2 / (count - 1.0));
    }
  }
}

// Eval-mode statistics: a copy of the running buffers as [1, 2, C].
@compute @workgroup_size(64)
fn running_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }
  Out[c] = RunningMean[c];
  Out[p.C + c] = RunningVar[c];
}

// Out = (X - mean) / sqrt(var + eps) * gamma + beta, with the statistics of the example's group, then max(., 0) with
// RELU (a fused ReLU). The grid is (positions / PER, channel, example), so no index needs an integer division (slow
// on CPU adapters), and each invocation does PER consecutive positions to share the per-channel loads.
const PER = 4u;
override RELU: bool = false;

@compute @workgroup_size(64)
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hw0 = gid.x * PER;
  let c = gid.y;
  let n = gid.z;
  if (hw0 >= p.HW) { return; }
  let s = n / (p.N / p.statsGroups);
  let mean = Stats[statIndex(s, 0u, c)];
  let scale = rstd(s, c) * Gamma[c];
  let beta = Shift[c];
  let base = (n * p.C + c) * p.HW;
  for (var hw = hw0; hw < min(hw0 + PER, p.HW); hw++) {
    // x - mean first: folding the mean into a shift would cancel catastrophically when |mean| >> std.
    let v = (X[base + hw] - mean) * scale + beta;
    Out[base + hw] = select(v, max(v, 0.0), RELU);
  }
}

// Lane partials of the gradient sums of group k, channel c: sum of dy and sum of dy * xhat.
@compute @workgroup_size(64)
fn grad_partial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let lane = gid.x;
  let c = gid.y;
  let k = gid.z;
  if (lane >= p.lanes) { return; }
  let ng = imagesPerGroup();
  let s = k * p.statsGroups / p.groups;
  let mean = Stats[statIndex(s, 0u, c)];
  let r = rstd(s, c);
  let first = k * ng;
  var n = lane / p.HW;
  var hw = lane % p.HW;
  var sdy = 0.0;
  var sdyx = 0.0;
  while (n < ng) {
    let idx = ((first + n) * p.C + c) * p.HW + hw;
    let dy = Dy[idx];
    sdy += dy;
    sdyx += dy * (X[idx] - mean) * r;
    n += p.laneStepN;
    hw += p.laneStepHW;
    if (hw >= p.HW) { hw -= p.HW; n += 1u; }
  }
  let o = ((k * p.C + c) * p.lanes + lane) * 2u;
  Out[o] = sdy;
  Out[o + 1u] = sdyx;
}

// Sum the lane partials in lane order: Out [groups, 2, C] = (sum dy, sum dy * xhat) per group and channel, and
// the gradients of beta (sum dy) and gamma (sum dy * xhat) into RunningMean and RunningVar, per group or summed
// over the groups as the *_PER_GROUP constants say (the same sums, in the same order, as param_grad's).
@compute @workgroup_size(64)
fn grad_combine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var betaSum = 0.0;
  var gammaSum = 0.0;
  for (var k = 0u; k < p.groups; k++) {
    var sdy = 0.0;
    var sdyx = 0.0;
    for (var l = 0u; l < p.lanes; l++) {
      let o = ((k * p.C + c) * p.lanes + l) * 2u;
      sdy += X[o];
      sdyx += X[o + 1u];
    }
    Out[statIndex(k, 0u, c)] = sdy;
    Out[statIndex(k, 1u, c)] = sdyx;
    if (BETA_PER_GROUP) { RunningMean[k * p.C + c] = sdy; } else { betaSum += sdy; }
    if (GAMMA_PER_GROUP) { RunningVar[k * p.C + c] = sdyx; } else { gammaSum += sdyx; }
  }
  if (!BETA_PER_GROUP) { RunningMean[c] = betaSum; }
  if (!GAMMA_PER_GROUP) { RunningVar[c] = gammaSum; }
}

// Gradient of beta (which = 0) or gamma (which = 1) from the reduced sums X [groups, 2, C]:
// per group [groups, C], or summed over the groups into [C] when sumGroups is set. Only for a gradient that
// grad_combine did not store into its buffer (see ParamGradOp in engine/ops/batchnorm.ts).
@compute @workgroup_size(64)
fn param_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let k = gid.y;
  if (c >= p.C) { return; }
  if (p.sumGroups != 0u) {
    if (k > 0u) { return; }
    var acc = 0.0;
    for (var j = 0u; j < p.groups; j++) { acc += X[statIndex(j, p.which, c)]; }
    Out[c] = acc;
  } else {
    Out[k * p.C + c] = X[statIndex(k, p.which, c)];
  }
}

// Input gradient. Training: dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) over the group
// (Shift holds the group sums); eval: dx = gamma * rstd * dy with the running statistics. Grid as normalize's.
@compute @workgroup_size(64)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hw0 = gid.x * PER;
  let c = gid.y;
  let n = gid.z;
  if (hw0 >= p.HW) { return; }
  let s = n / (p.N / p.statsGroups);
  let r = rstd(s, c);
  let scale = Gamma[c] * r;
  let base = (n * p.C + c) * p.HW;
  let end = min(hw0 + PER, p.HW);
  if (TRAIN) {
    let m = f32((p.N / p.statsGroups) * p.HW);
    let mean = Stats[statIndex(s, 0u, c)];
    let meanDy = Shift[statIndex(s, 0u, c)] / m;
    let meanDyXhat = Shift[statIndex(s, 1u, c)] / m;
    for (var hw = hw0; hw < end; hw++) {
      let xhat = (X[base + hw] - mean) * r;
      Out[base + hw] = scale * (Dy[base + hw] - meanDy - xhat * meanDyXhat);
    }
  } else {
    for (var hw = hw0; hw < end; hw++) { Out[base + hw] = scale * Dy[base + hw]; }
  }
}

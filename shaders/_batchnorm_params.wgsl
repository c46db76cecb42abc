// Batch norm's parameters (engine/ops/batchnorm.ts writes them) and statistics layout, shared by batchnorm.wgsl and
// batchnorm_onepass.wgsl (pasted with `//#include _batchnorm_params`, see scripts/embed-shaders.mjs).

struct Params {
  N: u32, C: u32, HW: u32, groups: u32,
  lanes: u32, laneStepN: u32, laneStepHW: u32, statsGroups: u32,
  eps: f32, momentum: f32, _c: u32, _d: u32,
  which: u32, sumGroups: u32, _a: u32, _b: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Index of statistic `which` (0: mean or sum of dy, 1: variance or sum of dy * xhat) of group s, channel c.
fn statIndex(s: u32, which: u32, c: u32) -> u32 { return (s * 2u + which) * p.C + c; }

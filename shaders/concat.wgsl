// Concatenation along an axis and its gradient (a slice). Tensors are viewed as [outer, inner]: a piece with `inner`
// values per outer index sits at columns offset .. offset + inner of the concatenation's `total` columns.
//
// `place` copies up to 7 pieces, X0..X6, in one dispatch: with Out they are the 8 storage buffers every WebGPU device
// allows per shader stage. The pieces of one dispatch are adjacent: together they fill the `span` columns from `base`.

struct Params {
  n: u32, rowStride: u32, total: u32, base: u32,
  span: u32, count: u32, _a: u32, _b: u32,
  // Column, from `base`, where piece k ends (piece k starts where piece k - 1 ends, piece 0 at 0): ends[k / 4][k % 4].
  ends: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Out: array<f32>;
@group(0) @binding(2) var<storage, read> X0: array<f32>;
@group(0) @binding(3) var<storage, read> X1: array<f32>;
@group(0) @binding(4) var<storage, read> X2: array<f32>;
@group(0) @binding(5) var<storage, read> X3: array<f32>;
@group(0) @binding(6) var<storage, read> X4: array<f32>;
@group(0) @binding(7) var<storage, read> X5: array<f32>;
@group(0) @binding(8) var<storage, read> X6: array<f32>;

// slice with MASK: X1 is a ReLU's output shaped as Out; Out is 0 where it is not positive (the ReLU's gradient folded in).
override MASK: bool = false;

fn end(k: u32) -> u32 { return p.ends[k / 4u][k % 4u]; }

// Out [outer, total] columns base .. base + span = pieces X0 .. X(count - 1) [outer, inner_k] side by side; one invocation
// per value of Out, so that the stores are contiguous.
@compute @workgroup_size(64)
fn place(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let o = i / p.span;
  let col = i - o * p.span;
  // The piece holding column `col`: the first whose end is past it (an empty piece ends where it starts and is skipped).
  var k = 0u;
  var start = 0u;
  for (var j = 0u; j + 1u < p.count; j++) {
    if (col >= end(j)) { k = j + 1u; start = end(j); }
  }
  let src = o * (end(k) - start) + col - start;
  var v: f32;
  switch k {
    case 0u: { v = X0[src]; }
    case 1u: { v = X1[src]; }
    case 2u: { v = X2[src]; }
    case 3u: { v = X3[src]; }
    case 4u: { v = X4[src]; }
    case 5u: { v = X5[src]; }
    default: { v = X6[src]; }
  }
  Out[o * p.total + p.base + col] = v;
}

// Out [outer, span] = columns base .. base + span of X0 [outer, total].
@compute @workgroup_size(64)
fn slice(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let o = i / p.span;
  let v = X0[o * p.total + p.base + (i - o * p.span)];
  if (MASK) { Out[i] = select(0.0, v, X1[i] > 0.0); } else { Out[i] = v; }
}

// Concatenation along an axis and its gradient (a slice). Tensors are viewed as [outer, inner]: a piece
// with `inner` values per outer index sits at column `offset` of the concatenation's `total` columns.

struct Params { n: u32, rowStride: u32, inner: u32, total: u32, offset: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
// slice with MASK: a ReLU's output shaped as Out; Out is 0 where it is not positive (the ReLU's gradient folded in).
@group(0) @binding(3) var<storage, read> Mask: array<f32>;

override MASK: bool = false;

// Copy piece X [outer, inner] into its columns of Out [outer, total].
@compute @workgroup_size(64)
fn place(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let o = i / p.inner;
  Out[o * p.total + p.offset + (i - o * p.inner)] = X[i];
}

// Out [outer, inner] = columns offset .. offset + inner of X [outer, total].
@compute @workgroup_size(64)
fn slice(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  if (i >= p.n) { return; }
  let o = i / p.inner;
  let v = X[o * p.total + p.offset + (i - o * p.inner)];
  Out[i] = select(v, select(0.0, v, Mask[i] > 0.0), MASK);
}

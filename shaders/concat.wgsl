// Concatenation along an axis and its gradient (a slice). Tensors are viewed as [outer, inner]: a piece with `inner`
// values per outer index sits at columns offset .. offset + inner of the concatenation's `total` columns.
//
// `place` copies up to 7 pieces, X0..X6, in one dispatch: with Out they are the 8 storage buffers every WebGPU device
// allows per shader stage. Workgroups are laid out as [pieces' column groups, row groups]: a workgroup copies 64 columns
// of one piece, row after row, so that nothing divides per value and the piece is the same across the workgroup.

// A piece's workgroups along x are firstGroup .. firstGroup + groups; they stride over its `inner` columns.
struct Piece { firstGroup: u32, groups: u32, inner: u32, offset: u32 }

struct Params {
  count: u32, total: u32, outer: u32, _a: u32,
  pieces: array<Piece, 7>,
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

// The piece whose workgroups include x (an empty piece has none: the next one starts where it does).
fn pieceOf(x: u32) -> u32 {
  var k = 0u;
  for (var j = 1u; j < p.count; j++) {
    if (x >= p.pieces[j].firstGroup) { k = j; }
  }
  return k;
}

// The switch sits outside the loops: a CPU adapter runs every case under a mask, and a case whose lanes are all off then
// leaves its loops at once instead of costing a masked copy per value.
@compute @workgroup_size(64)
fn place(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = pieceOf(wid.x);
  let piece = p.pieces[k];
  let n = piece.inner;
  let c0 = (wid.x - piece.firstGroup) * 64u + lid;
  let dc = piece.groups * 64u;
  let o0 = wid.y;
  let dr = groups.y;
  switch k {
    case 0u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X0[o * n + c]; } } }
    case 1u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X1[o * n + c]; } } }
    case 2u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X2[o * n + c]; } } }
    case 3u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X3[o * n + c]; } } }
    case 4u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X4[o * n + c]; } } }
    case 5u: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X5[o * n + c]; } } }
    default: { for (var o = o0; o < p.outer; o += dr) { for (var c = c0; c < n; c += dc) { Out[o * p.total + piece.offset + c] = X6[o * n + c]; } } }
  }
}

// Out [outer, inner] = columns offset .. offset + inner of X0 [outer, total] (pieces[0] describes Out).
@compute @workgroup_size(64)
fn slice(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let piece = p.pieces[0];
  for (var o = wid.y; o < p.outer; o += groups.y) {
    for (var col = wid.x * 64u + lid; col < piece.inner; col += piece.groups * 64u) {
      let i = o * piece.inner + col;
      let v = X0[o * p.total + piece.offset + col];
      if (MASK) { Out[i] = select(0.0, v, X1[i] > 0.0); } else { Out[i] = v; }
    }
  }
}

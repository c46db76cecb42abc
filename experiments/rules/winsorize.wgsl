// Winsorized combination of per-example gradients (experiments/rules/winsorize.ts), after the paper's
// Appendix B: for each coordinate, the B per-example values are clipped to lie between the (S+1)-th
// smallest and the (S+1)-th largest of them, then summed. Per-example gradients are of the mean loss
// (they sum to the batch gradient), so S = 0 gives the SGD gradient.
//
// One pass per coordinate keeps the S+1 smallest and S+1 largest values in sorted registers and the plain
// sum; the clipped sum is then  sum - (S smallest) - (S largest) + S * (lo + hi).  Each invocation does
// T = 4 coordinates. S is an override constant so the insertion loops unroll.

override S: u32 = 0u;
const MAX_L = 33u; // S + 1 <= MAX_L (experiments/rules/winsorize.ts enforces S <= 32)

struct Params { B: u32, rows: u32, cols: u32, rowStride: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

var<private> total: array<f32, 4>;
var<private> lo: array<array<f32, MAX_L>, 4>; // ascending: lo[t][k] is the (k+1)-th smallest so far
var<private> hi: array<array<f32, MAX_L>, 4>; // descending: hi[t][k] is the (k+1)-th largest so far

fn reset() {
  for (var t = 0u; t < 4u; t++) {
    total[t] = 0.0;
    for (var k = 0u; k <= S; k++) {
      lo[t][k] = 0x1.fffffep+127f; // values are finite gradients, so the largest float acts as +inf
      hi[t][k] = -0x1.fffffep+127f;
    }
  }
}

fn push(t: u32, value: f32) {
  total[t] += value;
  if (S == 0u) { return; }
  var a = value;
  var b = value;
  for (var k = 0u; k <= S; k++) {
    let l = lo[t][k];
    lo[t][k] = min(l, a);
    a = max(l, a);
    let h = hi[t][k];
    hi[t][k] = max(h, b);
    b = min(h, b);
  }
}

fn result(t: u32) -> f32 {
  if (S == 0u) { return total[t]; }
  var s = total[t];
  for (var k = 0u; k < S; k++) { s -= lo[t][k] + hi[t][k]; }
  return s + f32(S) * (lo[t][S] + hi[t][S]);
}

// A dense weight [rows, cols] from its factors: example b's gradient is DY[b, :] ⊗ X[b, :]
// (DY [B, rows], X [B, cols]). Invocation (x, y) does column x of rows 4y .. 4y+3, so neighbouring lanes
// read neighbouring X values and share the DY values.
@compute @workgroup_size(64)
fn dense(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r0 = gid.y * 4u;
  if (c >= p.cols || r0 >= p.rows) { return; }
  let last = p.rows - 1u - r0; // rows past the end repeat the last one and are not written
  reset();
  for (var b = 0u; b < p.B; b++) {
    let x = X[b * p.cols + c];
    let db = b * p.rows + r0;
    for (var t = 0u; t < 4u; t++) { push(t, DY[db + min(t, last)] * x); }
  }
  for (var t = 0u; t <= min(3u, last); t++) { Out[(r0 + t) * p.cols + c] = result(t); }
}

// Columns of X [B, cols]: example b's gradient is X[b, :] (a bias's DY, or materialised per-example
// gradients). Invocation i does columns 4i .. 4i+3; the grid is folded into 2D by rowStride.
@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c0 = (gid.x + gid.y * p.rowStride) * 4u;
  if (c0 >= p.cols) { return; }
  let last = p.cols - 1u - c0;
  reset();
  for (var b = 0u; b < p.B; b++) {
    let xb = b * p.cols + c0;
    for (var t = 0u; t < 4u; t++) { push(t, X[xb + min(t, last)]); }
  }
  for (var t = 0u; t <= min(3u, last); t++) { Out[c0 + t] = result(t); }
}

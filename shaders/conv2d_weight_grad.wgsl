// Convolution weight and bias gradients, reduced over slices of the batch.
//   weight_grad: dW[part, o, c, i, j] = sum_{n in part, ho, wo} dY[n, o, ho, wo] * X[n, g*Cg + c, ih, iw]
//                with ih = ho*SH - PH + i*DH, iw = wo*SW - PW + j*DW (zero outside the image).
//   bias_grad:   dB[n, o] = sum_{ho, wo} dY[n, o, ho, wo] (per example; the engine sums examples in groups).
// GEMM view of weight_grad: [O, Cg*KH*KW] = dY [O, positions] x patches [positions, Cg*KH*KW] for each group.
// Each invocation owns a 16 x 8 register tile (16 output channels x 8 filter taps (c, i, j)) and reduces it over the
// examples of its part, without shared memory. The batch is cut into chunks (grid z = chunk * groups + group), and
// a chunk into `slices` interleaved subsets of examples, one per run of `tapTiles` invocations, so that layers with
// few taps still fill the workgroup's lanes; each (chunk, slice) writes its own part and the engine sums the parts.
// A chunk never straddles two gradient groups, so grouped gradients (graph.gradGroups) are sums of parts too.
// Nothing returns early (surplus invocations are clamped and store nothing), so every lane stays active.
// Grid: x = (tap tile, slice) pairs, WG per workgroup; y = channel tiles within a group; z as above.

//#include _conv_params
struct Tail {
  perChunk: u32, chunksPerGradGroup: u32, perGradGroup: u32, slices: u32,
  tapTiles: u32, _a: u32, _b: u32, _c: u32,
}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> dY: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

// Invocations per workgroup, chosen by the engine to leave the fewest idle lanes at the end of the grid.
override WG: u32 = 64u;
const TK = 8u; // filter taps per invocation, as two vec4
// Output channels per invocation: 16, or the power of two that covers a group's fewer channels.
override TO: u32 = 16u;
const TO_MAX = 16u;

// The output columns wo at which tap offsets dw (iw = wo*SW + dw) fall inside the image: [first, end).
fn validColumns(dw: vec4<i32>) -> array<vec4<i32>, 2> {
  let s = i32(p.SW);
  let first = max((-dw + s - 1) / s, vec4<i32>(0));
  let end = min((i32(p.W) - dw + s - 1) / s, vec4<i32>(i32(p.Wo)));
  return array<vec4<i32>, 2>(first, end);
}

@compute @workgroup_size(WG)
fn weight_grad(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = wg.y * WG + lid;
  let Cg = p.C / p.groups;
  let Og = p.O / p.groups;
  let KK = p.KH * p.KW;
  let K = Cg * KK;
  let g = wg.z % p.groups;
  let chunk = wg.z / p.groups;
  let gradGroup = chunk / p.tail.chunksPerGradGroup;
  let tapTile = lane % p.tail.tapTiles;
  let slice = min(lane / p.tail.tapTiles, p.tail.slices - 1u);
  let nStart = gradGroup * p.tail.perGradGroup + (chunk % p.tail.chunksPerGradGroup) * p.tail.perChunk + slice;
  let nEnd = min(nStart - slice + p.tail.perChunk, (gradGroup + 1u) * p.tail.perGradGroup);
  let HW = p.H * p.W;
  let HoWo = p.Ho * p.Wo;

  // Taps k0 .. k0+7 (clamped at the end) as two vec4: channel offset and (row, column) offsets of each.
  let k0 = tapTile * TK;
  let ka = min(vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u), vec4<u32>(K - 1u));
  let kb = min(vec4<u32>(k0 + 4u, k0 + 5u, k0 + 6u, k0 + 7u), vec4<u32>(K - 1u));
  let xChanA = vec4<i32>((g * Cg + ka / KK) * HW);
  let xChanB = vec4<i32>((g * Cg + kb / KK) * HW);
  let dhA = vec4<i32>(((ka % KK) / p.KW) * p.DH) - i32(p.PH);
  let dhB = vec4<i32>(((kb % KK) / p.KW) * p.DH) - i32(p.PH);
  let dwA = vec4<i32>(((ka % KK) % p.KW) * p.DW) - i32(p.PW);
  let dwB = vec4<i32>(((kb % KK) % p.KW) * p.DW) - i32(p.PW);
  let colsA = validColumns(dwA);
  let colsB = validColumns(dwB);

  // dY rows of channels oFirst .. oFirst+15 (clamped at the end of the group).
  let oFirst = g * Og + wg.x * TO;
  let oLast = g * Og + Og - 1u;
  var yRow: array<u32, TO_MAX>;
  for (var t = 0u; t < TO; t++) { yRow[t] = min(oFirst + t, oLast) * HoWo; }

  // acc[2t] and acc[2t + 1]: channel oFirst + t with taps k0..k0+3 and k0+4..k0+7.
  var acc: array<vec4<f32>, 2u * TO_MAX>;
  let H = i32(p.H);
  let W = i32(p.W);
  for (var n = nStart; n < nEnd; n += p.tail.slices) {
    let xImage = i32(n * p.C * HW);
    let yImage = n * p.O * HoWo;
    for (var ho = 0u; ho < p.Ho; ho++) {
      let ihA = i32(ho * p.SH) + dhA;
      let ihB = i32(ho * p.SH) + dhB;
      let rowOkA = (ihA >= vec4<i32>(0)) & (ihA < vec4<i32>(H));
      let rowOkB = (ihB >= vec4<i32>(0)) & (ihB < vec4<i32>(H));
      let xRowA = xImage + xChanA + ihA * W + dwA;
      let xRowB = xImage + xChanB + ihB * W + dwB;
      var yi = yImage + ho * p.Wo;
      for (var wo = 0u; wo < p.Wo; wo++) {
        let col = vec4<i32>(i32(wo));
        let okA = rowOkA & (col >= colsA[0]) & (col < colsA[1]);
        let okB = rowOkB & (col >= colsB[0]) & (col < colsB[1]);
        let xa = vec4<u32>(select(vec4<i32>(0), xRowA + i32(wo * p.SW), okA));
        let xb = vec4<u32>(select(vec4<i32>(0), xRowB + i32(wo * p.SW), okB));
        let va = select(vec4<f32>(0.0), vec4<f32>(X[xa.x], X[xa.y], X[xa.z], X[xa.w]), okA);
        let vb = select(vec4<f32>(0.0), vec4<f32>(X[xb.x], X[xb.y], X[xb.z], X[xb.w]), okB);
        for (var t = 0u; t < TO; t++) {
          let dy = dY[yRow[t] + yi];
          acc[2u * t] = fma(vec4<f32>(dy), va, acc[2u * t]);
          acc[2u * t + 1u] = fma(vec4<f32>(dy), vb, acc[2u * t + 1u]);
        }
        yi += 1u;
      }
    }
  }

  if (lane >= p.tail.tapTiles * p.tail.slices) { return; }
  let outBase = (chunk * p.tail.slices + slice) * (p.O * K);
  for (var t = 0u; t < TO; t++) {
    let o = oFirst + t;
    if (o > oLast) { break; }
    for (var s = 0u; s < TK; s++) {
      if (k0 + s >= K) { break; }
      Out[outBase + o * K + k0 + s] = acc[2u * t + s / 4u][s % 4u];
    }
  }
}

// One invocation per (example, output channel); the grid may be 2D: index = x + y * (64 * num_workgroups.x).
@compute @workgroup_size(64)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.N * p.O) { return; }
  let HoWo = p.Ho * p.Wo;
  let base = idx * HoWo;
  var s = 0.0;
  for (var t = 0u; t < HoWo; t++) { s += dY[base + t]; }
  Out[idx] = s;
}

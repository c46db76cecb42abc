// 8-bit pixels [B, C, H, W] packed four to a u32 word (byte k is bits 8*(k%4).. of word k/4, as a little-endian upload
// of the bytes lays them out) to float32: Out[k] = f32(byte k) * Affine[c] + Affine[C + c] with c = (k / plane) % C.
// One invocation per word; the last word may hold fewer than four bytes. The grid may be 2D: word = x + y * rowStride.

struct Params { count: u32, plane: u32, channels: u32, rowStride: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Bytes: array<u32>;
@group(0) @binding(2) var<storage, read> Affine: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x + gid.y * p.rowStride;
  let first = w * 4u;
  if (first >= p.count) { return; }
  let word = Bytes[w];
  let q = first / p.plane;
  let c = q % p.channels;
  let v = vec4<f32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
  if (first + 4u <= p.count && first + 4u <= (q + 1u) * p.plane) {
    // The usual case: four whole bytes of one channel's plane, with one division for the word.
    let x = v * Affine[c] + Affine[p.channels + c];
    Out[first] = x.x;
    Out[first + 1u] = x.y;
    Out[first + 2u] = x.z;
    Out[first + 3u] = x.w;
    return;
  }
  // A word that crosses into the next channel's plane, or the batch's last, partial word.
  let last = min(first + 4u, p.count);
  for (var k = first; k < last; k++) {
    let ck = (k / p.plane) % p.channels;
    Out[k] = v[k - first] * Affine[ck] + Affine[p.channels + ck];
  }
}

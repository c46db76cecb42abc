// 8-bit pixels [B, C, H, W] packed four to a u32 word (byte k is bits 8*(k%4).. of word k/4, as a little-endian upload
// of the bytes lays them out) to float32: Out[k] = f32(byte k) * Affine[c] + Affine[C + c] with c = (k / plane) % C.
// One invocation per 16 bytes (four words, one vec4 load), each word's values written as one vec4: measured about
// twice as fast on a CPU adapter as one word per invocation. The last word may hold fewer than four bytes: its vec4
// keeps the values past `count` as they were, so the output must be a whole number of vec4s (engine buffers are).
// The grid may be 2D: group = x + y * rowStride.

struct Params { count: u32, plane: u32, channels: u32, rowStride: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Bytes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> Affine: array<f32>;
@group(0) @binding(3) var<storage, read_write> Out: array<vec4<f32>>;

const SHIFTS = vec4<u32>(0u, 8u, 16u, 24u);
const LANES = vec4<u32>(0u, 1u, 2u, 3u);

fn unpack(word: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(word) >> SHIFTS) & vec4<u32>(255u));
}

// Word w's four values one by one: for a word that crosses into the next channel's plane or past the batch's end.
fn edgeWord(w: u32, word: u32) {
  let first = w * 4u;
  if (first >= p.count) { return; }
  let c = ((vec4<u32>(first) + LANES) / p.plane) % p.channels;
  let scale = vec4<f32>(Affine[c.x], Affine[c.y], Affine[c.z], Affine[c.w]);
  let shift = vec4<f32>(Affine[p.channels + c.x], Affine[p.channels + c.y], Affine[p.channels + c.z], Affine[p.channels + c.w]);
  let x = unpack(word) * scale + shift;
  Out[w] = select(x, Out[w], vec4<u32>(first) + LANES >= vec4<u32>(p.count));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x + gid.y * p.rowStride;
  let first = g * 16u;
  if (first >= p.count) { return; }
  let words = Bytes[g];
  let q = first / p.plane;
  if (first + 16u <= p.count && first + 16u <= (q + 1u) * p.plane) {
    // The usual case: sixteen values of one channel's plane, with one division.
    let c = q % p.channels;
    let scale = Affine[c];
    let shift = Affine[p.channels + c];
    Out[4u * g] = unpack(words.x) * scale + shift;
    Out[4u * g + 1u] = unpack(words.y) * scale + shift;
    Out[4u * g + 2u] = unpack(words.z) * scale + shift;
    Out[4u * g + 3u] = unpack(words.w) * scale + shift;
    return;
  }
  edgeWord(4u * g, words.x);
  edgeWord(4u * g + 1u, words.y);
  edgeWord(4u * g + 2u, words.z);
  edgeWord(4u * g + 3u, words.w);
}

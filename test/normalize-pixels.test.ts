// The GPU input path for 8-bit pixels: the unpack-and-normalise kernel against a float64 reference. The op has no
// gradient (it runs before the graph, on integer input), so there is no finite-difference check.
import { test } from 'uvu';
import { getGpu } from '../engine/context.js';
import { PixelUpload } from '../engine/ops/normalize-pixels.js';
import { Rng } from '../engine/random.js';
import { assertThrowsLine } from './helpers/check.js';

/** Float64 reference, written out: value (b, c, i) of an NCHW batch is (byte / 255 - mean[c]) / std[c]. */
function reference(bytes: Uint8Array, B: number, C: number, plane: number, mean: number[], std: number[]): Float64Array {
  const out = new Float64Array(B * C * plane);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < plane; i++) {
        const at = (b * C + c) * plane + i;
        out[at] = (bytes[at] / 255 - mean[c]) / std[c];
      }
    }
  }
  return out;
}

const SENTINEL = -12345;

/** Runs the upload of each batch in turn through one PixelUpload and checks every value and the untouched tail. */
async function check(B: number, C: number, H: number, W: number, batches: Uint8Array[], mean: number[], std: number[]) {
  const gpu = await getGpu();
  const count = B * C * H * W;
  const target = gpu.buffer(count + 8, 'target', new Float32Array(count + 8).fill(SENTINEL));
  const upload = new PixelUpload(gpu, target, count, C, H * W, { mean, std });
  for (const [k, bytes] of batches.entries()) {
    upload.write(bytes);
    gpu.submit([upload.dispatch]);
    const got = (await gpu.read(target, count + 8)) as Float32Array;
    const want = reference(bytes, B, C, H * W, mean, std);
    for (let i = 0; i < count; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 2e-6)) throw new Error(`[${B},${C},${H},${W}] batch ${k} value ${i}: got ${got[i]}, want ${want[i]}`);
    }
    for (let i = count; i < count + 8; i++) if (got[i] !== SENTINEL) throw new Error(`[${B},${C},${H},${W}]: wrote past the batch at ${i}`);
  }
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

test('pixel normalisation matches a float64 reference on odd sizes, byte counts not a multiple of 4 and unaligned views', async () => {
  const rng = new Rng(17);
  const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  for (const [B, C, H, W] of [[3, 3, 5, 7], [1, 3, 1, 1], [2, 1, 3, 3], [5, 3, 2, 2], [1, 4, 3, 5]]) {
    const n = B * C * H * W;
    const mean = C === 3 ? imagenet.mean : Array.from({ length: C }, () => rng.uniform());
    const std = C === 3 ? imagenet.std : Array.from({ length: C }, () => 0.1 + rng.uniform());
    const extremes = Uint8Array.from({ length: n }, (_, i) => (i % 2 ? 255 : 0));
    const unaligned = randomBytes(rng, n + 3).subarray(3); // an odd byte offset: staged before the upload
    await check(B, C, H, W, [randomBytes(rng, n), extremes, unaligned, randomBytes(rng, n)], mean, std);
  }
});

test('pixel normalisation covers a batch whose words need a 2D grid (more than 65,535 workgroups)', async () => {
  const rng = new Rng(4);
  const [B, C, H, W] = [1, 3, 1, 4 * 65535 * 64 / 3 + 3];
  const bytes = new Uint8Array(B * C * H * W);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 9)) & 255;
  bytes[bytes.length - 1] = rng.int(256);
  await check(B, C, H, W, [bytes], [0.5, 0.25, 0], [0.5, 1, 2]);
});

test('a pixel upload refuses a mismatched batch, normalisation or target', async () => {
  const gpu = await getGpu();
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const target = gpu.buffer(2 * 3 * 4, 'target');
  const upload = new PixelUpload(gpu, target, 24, 3, 4, norm);
  assertThrowsLine(() => upload.write(new Uint8Array(23)), /^pixel upload: expected 24 bytes, got 23$/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 24, 3, 4, { mean: [0.5], std: [1] }), /3 channels need 3 means and stds, got 1 and 1/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 24, 3, 4, { ...norm, std: [1, 0, 1] }), /stds positive/);
  assertThrowsLine(() => new PixelUpload(gpu, target, 25, 3, 4, norm), /25 bytes are not whole examples/);
  assertThrowsLine(() => new PixelUpload(gpu, gpu.buffer(4, 'small'), 24, 3, 4, norm), /fewer than 24 float32 values/);
});

test.run();

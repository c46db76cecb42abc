import { Gpu, Dispatch, words } from '../gpu.js';
import { grid1d } from './grid.js';

/** Per-channel mean and standard deviation of pixels scaled to [0, 1]: x = (byte / 255 - mean[c]) / std[c]. */
export interface PixelNormalization { readonly mean: readonly number[]; readonly std: readonly number[] }

/**
 * A network input fed as 8-bit pixels: `write` uploads a batch [B, C, H, W] of bytes (a quarter of float32's), and
 * `dispatch`, recorded first in the step's command buffer, unpacks and normalises them into the float32 input
 * buffer `target`. Not a graph op: it has no gradient, and it runs before the graph. Buffers are allocated once.
 */
export class PixelUpload {
  readonly dispatch: Dispatch;
  /** The bytes packed four to a u32 word, in whole vec4s (gpu.buffer's 16-byte rounding); the last word is zero-padded. */
  private readonly packed: GPUBuffer;
  /** Staging for batches whose length or offset writeBuffer cannot take as they are (not multiples of 4). */
  private staging: Uint8Array | null = null;

  /** `maxGroupsX` folds the grid into 2D past that many workgroups (tests lower it to cover the 2D indexing). */
  constructor(
    private readonly gpu: Gpu, target: GPUBuffer, readonly count: number, channels: number, plane: number, norm: PixelNormalization, maxGroupsX = 65535,
  ) {
    if (!(Number.isInteger(count) && count > 0 && Number.isInteger(plane) && plane > 0 && count % (channels * plane) === 0)) {
      throw new Error(`pixel upload: ${count} bytes are not whole examples of ${channels} channels of ${plane} pixels`);
    }
    if (norm.mean.length !== channels || norm.std.length !== channels) {
      throw new Error(`pixel upload: ${channels} channels need ${channels} means and stds, got ${norm.mean.length} and ${norm.std.length}`);
    }
    if (!norm.mean.every(Number.isFinite) || !norm.std.every((s) => Number.isFinite(s) && s > 0)) {
      throw new Error(`pixel upload: means must be finite and stds positive, got mean [${norm.mean}] std [${norm.std}]`);
    }
    // The kernel writes whole vec4s, keeping the values past `count` in the last one.
    if (target.size < Math.ceil(count / 4) * 16) {
      throw new Error(`pixel upload: the target holds ${target.size} bytes, fewer than ${count} float32 values rounded up to whole vec4s`);
    }
    // (byte / 255 - mean) / std as one multiply-add: scale = 1 / (255 std), shift = -mean / std (rounded to float32 once).
    const affine = new Float32Array(2 * channels);
    for (let c = 0; c < channels; c++) { affine[c] = 1 / (255 * norm.std[c]); affine[channels + c] = -norm.mean[c] / norm.std[c]; }
    const wordCount = Math.ceil(count / 4);
    this.packed = gpu.buffer(wordCount, 'pixels');
    const { grid, rowStride } = grid1d(Math.ceil(count / 16), 64, maxGroupsX); // an invocation per 16 bytes
    const uniform = gpu.uniform(words([count, plane, channels, rowStride]), 'normalize_pixels');
    this.dispatch = gpu.dispatch(gpu.kernel('normalize_pixels'), [uniform, this.packed, gpu.buffer(2 * channels, 'pixel affine', affine), target], grid,
      `normalize_pixels ${count}`);
  }

  /** Queue-ordered like any buffer write: a step already submitted keeps the bytes it was given; `bytes` may be reused at once. */
  write(bytes: Uint8Array): void {
    if (bytes.length !== this.count) throw new Error(`pixel upload: expected ${this.count} bytes, got ${bytes.length}`);
    if (bytes.length % 4 === 0 && bytes.byteOffset % 4 === 0) {
      this.gpu.device.queue.writeBuffer(this.packed, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return;
    }
    this.staging ??= new Uint8Array(Math.ceil(this.count / 4) * 4);
    this.staging.set(bytes);
    this.gpu.device.queue.writeBuffer(this.packed, 0, this.staging.buffer, 0, this.staging.byteLength);
  }
}

/**
 * torchvision's Resize(size) then CenterCrop(crop) on a PIL image, bit for bit: Resize scales the shorter side
 * to `size` (the longer to int(size * long / short)) with PIL's antialiased bilinear filter, a triangle whose
 * support widens by the downscale factor, in PIL's 22-bit fixed point with a horizontal pass rounded to
 * uint8 before the vertical one; CenterCrop takes round((H - crop) / 2) rows off the top (Python rounds halves
 * to even). Only the cropped pixels are computed: each output pixel depends on its own coefficients only.
 */
import type { RgbImage } from './decode.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/** The size torchvision's Resize(short) gives a width x height image: [width, height]. */
export function resizedSize(width: number, height: number, short: number): [number, number] {
  if (width <= height) return [short, Math.trunc((short * height) / width)];
  return [Math.trunc((short * width) / height), short];
}

/** Python's round() of (size - crop) / 2, as torchvision's center_crop computes the offset. */
export function cropOffset(size: number, crop: number): number {
  const x = (size - crop) / 2;
  const f = Math.floor(x);
  if (x - f !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/** PIL's coefficients for output pixels [first, first + count) of an inSize -> outSize resampling. */
interface Coeffs { start: Int32Array; taps: Int32Array; k: Int32Array; ksize: number }

function coefficients(inSize: number, outSize: number, first: number, count: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count), taps = new Int32Array(count), k = new Int32Array(count * ksize);
  const w = new Float64Array(ksize);
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterscale);
      w[x] = t < 1 ? 1 - t : 0;
      sum += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      k[i * ksize + x] = Math.trunc(v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5);
    }
    start[i] = xmin;
    taps[i] = xmax;
  }
  return { start, taps, k, ksize };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resize(resize) + CenterCrop(crop) of an RGB image into planar [3, crop, crop] uint8 (`out`, reused when given).
 * Needs resize >= crop.
 */
export function resizeCenterCrop(img: RgbImage, resize: number, crop: number, out = new Uint8Array(3 * crop * crop)): Uint8Array {
  if (crop > resize) throw new Error(`crop ${crop} is larger than the resized shorter side ${resize}`);
  const { width: W, height: H, data } = img;
  const [RW, RH] = resizedSize(W, H, resize);
  const left = cropOffset(RW, crop), top = cropOffset(RH, crop);
  const plane = crop * crop;
  const needH = RW !== W, needV = RH !== H;
  const cols = needH ? coefficients(W, RW, left, crop) : null;
  const rows = needV ? coefficients(H, RH, top, crop) : null;
  // Input rows the vertical pass reads (all cropped rows when there is no vertical pass).
  const y0 = rows ? rows.start[0] : top;
  const y1 = rows ? rows.start[crop - 1] + rows.taps[crop - 1] : top + crop;
  // Horizontal pass over rows y0..y1-1 into tmp [y1 - y0, crop, 3], or a plain column crop.
  const tw = crop;
  const tmp = new Uint8Array((y1 - y0) * tw * 3);
  for (let y = y0; y < y1; y++) {
    const src = y * W * 3, dst = (y - y0) * tw * 3;
    for (let i = 0; i < tw; i++) {
      if (!cols) {
        const s = src + (left + i) * 3;
        tmp[dst + 3 * i] = data[s]; tmp[dst + 3 * i + 1] = data[s + 1]; tmp[dst + 3 * i + 2] = data[s + 2];
        continue;
      }
      let r = HALF, g = HALF, b = HALF;
      const kb = i * cols.ksize, n = cols.taps[i];
      let s = src + cols.start[i] * 3;
      for (let x = 0; x < n; x++, s += 3) {
        const kv = cols.k[kb + x];
        r += data[s] * kv; g += data[s + 1] * kv; b += data[s + 2] * kv;
      }
      tmp[dst + 3 * i] = clip8(r); tmp[dst + 3 * i + 1] = clip8(g); tmp[dst + 3 * i + 2] = clip8(b);
    }
  }
  // Vertical pass (or a row crop) from tmp into planar output.
  for (let j = 0; j < crop; j++) {
    for (let i = 0; i < crop; i++) {
      const o = j * crop + i;
      if (!rows) {
        const s = ((top + j - y0) * tw + i) * 3;
        out[o] = tmp[s]; out[plane + o] = tmp[s + 1]; out[2 * plane + o] = tmp[s + 2];
        continue;
      }
      let r = HALF, g = HALF, b = HALF;
      const kb = j * rows.ksize, n = rows.taps[j];
      let s = ((rows.start[j] - y0) * tw + i) * 3;
      for (let y = 0; y < n; y++, s += tw * 3) {
        const kv = rows.k[kb + y];
        r += tmp[s] * kv; g += tmp[s + 1] * kv; b += tmp[s + 2] * kv;
      }
      out[o] = clip8(r); out[plane + o] = clip8(g); out[2 * plane + o] = clip8(b);
    }
  }
  return out;
}

import { test } from 'uvu';
import { cropOffset, resizeCenterCrop, resizedSize } from '../engine/data/image/resize.js';
import { Rng } from '../engine/random.js';

/**
 * Float64 reference of torchvision's Resize(short) + CenterCrop(crop): for each output pixel, the triangle
 * filter of radius max(1, in/out) input pixels centred on the output pixel's centre, weights normalised to 1,
 * applied along x then y without rounding; the crop offset rounds halves to even.
 */
function weights(inSize: number, outSize: number, o: number): Float64Array {
  const scale = inSize / outSize, radius = Math.max(1, scale), centre = (o + 0.5) * scale;
  const w = new Float64Array(inSize);
  let sum = 0;
  for (let i = 0; i < inSize; i++) { w[i] = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / radius); sum += w[i]; }
  for (let i = 0; i < inSize; i++) w[i] /= sum;
  return w;
}

function pyRound(x: number): number {
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
}

function reference(rgb: Uint8Array, W: number, H: number, short: number, crop: number): Float64Array {
  const RW = W <= H ? short : Math.floor((short * W) / H);
  const RH = W <= H ? Math.floor((short * H) / W) : short;
  const left = pyRound((RW - crop) / 2), top = pyRound((RH - crop) / 2);
  const out = new Float64Array(3 * crop * crop);
  for (let j = 0; j < crop; j++) {
    const wy = RH === H ? null : weights(H, RH, top + j);
    for (let i = 0; i < crop; i++) {
      const wx = RW === W ? null : weights(W, RW, left + i);
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let y = 0; y < H; y++) {
          const fy = wy ? wy[y] : y === top + j ? 1 : 0;
          if (fy === 0) continue;
          let row = 0;
          for (let x = 0; x < W; x++) {
            const fx = wx ? wx[x] : x === left + i ? 1 : 0;
            if (fx !== 0) row += fx * rgb[3 * (y * W + x) + c];
          }
          v += fy * row;
        }
        out[c * crop * crop + j * crop + i] = v;
      }
    }
  }
  return out;
}

test('output geometry is torchvision\'s: shorter side to the size, longer truncated, crop offset rounded half to even', () => {
  const cases: [number, number, number, [number, number]][] = [
    [500, 375, 256, [341, 256]], [375, 500, 256, [256, 341]], [333, 500, 256, [256, 384]], [640, 480, 342, [456, 342]],
  ];
  for (const [w, h, s, want] of cases) {
    const got = resizedSize(w, h, s);
    if (got[0] !== want[0] || got[1] !== want[1]) throw new Error(`resize ${w}x${h} to ${s}: ${got}, want ${want}`);
  }
  // (341 - 224) / 2 = 58.5 -> 58; (259 - 224) / 2 = 17.5 -> 18; (256 - 224) / 2 = 16.
  for (const [size, crop, want] of [[341, 224, 58], [259, 224, 18], [256, 224, 16], [57, 56, 0], [58, 56, 1]]) {
    if (cropOffset(size, crop) !== want) throw new Error(`crop offset of ${crop} in ${size}: ${cropOffset(size, crop)}, want ${want}`);
  }
});

test('resize + centre crop matches the float64 antialiased bilinear reference within one level', () => {
  const rng = new Rng(11);
  // Downscaling (antialiased), upscaling, one side unchanged, odd sizes, and the 32/32, 64/56 and 342/299 settings.
  const cases: [number, number, number, number][] = [
    [120, 90, 64, 56], [90, 121, 32, 32], [37, 23, 40, 36], [64, 200, 64, 56], [301, 64, 64, 64], [17, 29, 32, 30], [230, 173, 171, 150],
  ];
  for (const [W, H, short, crop] of cases) {
    const rgb = new Uint8Array(W * H * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i % 97 < 50 ? rng.int(256) : 128 + 100 * Math.sin(i / 300)) | 0;
    const got = resizeCenterCrop({ width: W, height: H, data: rgb }, short, crop);
    const want = reference(rgb, W, H, short, crop);
    let worst = 0, off = 0;
    for (let k = 0; k < want.length; k++) {
      const d = Math.abs(got[k] - want[k]);
      worst = Math.max(worst, d);
      if (Math.round(want[k]) !== got[k]) off++;
    }
    // PIL's fixed point rounds the horizontal pass to bytes before the vertical one: at most one level apart.
    if (worst > 1.0 + 1e-9) throw new Error(`${W}x${H} -> ${short}/${crop}: max difference ${worst.toFixed(3)} from the float64 reference`);
    if (off / want.length > 0.3) throw new Error(`${W}x${H} -> ${short}/${crop}: ${off} of ${want.length} values differ from the rounded reference`);
  }
});

test('resize refuses a crop larger than the resized shorter side', () => {
  let msg = '';
  try { resizeCenterCrop({ width: 10, height: 10, data: new Uint8Array(300) }, 8, 9); } catch (e) { msg = (e as Error).message; }
  if (!/crop 9 is larger/.test(msg)) throw new Error(`got "${msg}"`);
});

test.run();

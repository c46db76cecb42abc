// Test images made in-process: JPEGs through MozJPEG's encoder (@jsquash/jpeg), PNGs through fast-png, and the
// committed Adobe CMYK fixture (scripts/make-cmyk-fixture.py), since no npm encoder writes CMYK.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsquashEncode, { init as encodeInit } from '@jsquash/jpeg/encode.js';
import { encode as pngEncode } from 'fast-png';
import { Rng } from '../../engine/random.js';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
export const CMYK_JPEG = join(FIXTURES, 'cmyk.jpg');
/** PIL 9.4's convert('RGB') of cmyk.jpg, raw 61 x 47 x 3. */
export const CMYK_PIL_RGB = join(FIXTURES, 'cmyk.rgb');

let ready: Promise<void> | undefined;
function encoder(): Promise<void> {
  if (!ready) {
    const dir = dirname(createRequire(import.meta.url).resolve('@jsquash/jpeg/package.json'));
    const wasm = new WebAssembly.Module(readFileSync(join(dir, 'codec', 'enc', 'mozjpeg_enc.wasm')));
    ready = (encodeInit as unknown as (m: WebAssembly.Module, o: object) => Promise<void>)(wasm, { print: () => {}, printErr: () => {} });
  }
  return ready;
}

/** A smooth picture with some noise, so JPEG has real work to do: interleaved RGB. */
export function picture(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(width * height * 3);
  const fx = 3 + rng.int(20), fy = 3 + rng.int(20);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      out[o] = 128 + 100 * Math.sin(x / fx + seed) + rng.int(20);
      out[o + 1] = (255 * y) / height;
      out[o + 2] = 128 + 100 * Math.cos((x + y) / fy) - rng.int(20);
    }
  }
  return out;
}

export type JpegKind = 'baseline420' | 'progressive420' | 'baseline444' | 'progressive444' | 'grey';

export async function jpeg(rgb: Uint8Array, width: number, height: number, kind: JpegKind, quality = 90): Promise<Uint8Array> {
  await encoder();
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) { rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i); rgba[4 * i + 3] = 255; }
  const buf = await jsquashEncode({ data: rgba, width, height, colorSpace: 'srgb' } as ImageData, {
    quality,
    progressive: kind.startsWith('progressive'),
    baseline: !kind.startsWith('progressive'),
    chroma_subsample: kind.endsWith('444') ? 1 : 2,
    color_space: kind === 'grey' ? 1 : 3,
    auto_subsample: false,
    optimize_coding: true,
  });
  return new Uint8Array(buf);
}

export function png(rgb: Uint8Array, width: number, height: number, channels: 1 | 3 | 4 = 3): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < channels; c++) data[i * channels + c] = c === 3 ? 200 : rgb[3 * i + (channels === 1 ? 0 : c)];
  }
  return pngEncode({ width, height, data, channels, depth: 8 });
}

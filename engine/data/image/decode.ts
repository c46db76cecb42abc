/**
 * Decodes the files of an image-folder dataset to 8-bit RGB as PIL's Image.open(f).convert('RGB') does (EXIF
 * orientation ignored). JPEG goes through MozJPEG's decoder (libjpeg-turbo's, compiled to wasm by @jsquash/jpeg):
 * the same IDCT and fancy upsampling as PIL, so pixels match libjpeg-turbo exactly. Four-component (CMYK/YCCK)
 * JPEGs, which that build cannot convert, go through jpeg-js, whose CMYK -> RGB is PIL's (255-C)(255-K)/255.
 * PNG (a few ImageNet files named .JPEG are PNGs) goes through fast-png. See README, Data, for the measurements.
 * Needs no file system: the caller passes the compiled wasm module.
 */
import jsquashDecode, { init as jsquashInit } from '@jsquash/jpeg/decode.js';
import jpegJs from 'jpeg-js';
import { decode as decodePng, convertIndexedToRgb } from 'fast-png';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major: data[3 * (y * width + x) + c]. */
  data: Uint8Array;
}

/** A file that is not a decodable JPEG or PNG; the message says why. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

export type ImageKind = 'jpeg' | 'jpeg-cmyk' | 'png';

export class ImageDecoder {
  private warnings: string[] = [];

  private constructor() {}

  /** `wasm` is @jsquash/jpeg's codec/dec/mozjpeg_dec.wasm, compiled. */
  static async create(wasm: WebAssembly.Module): Promise<ImageDecoder> {
    const d = new ImageDecoder();
    // libjpeg reports warnings and fatal errors through stderr; collect them per file instead of printing.
    // The runtime takes (module, overrides); the package's typings still declare only the overrides.
    const init = jsquashInit as unknown as (m: WebAssembly.Module, o: Record<string, unknown>) => Promise<void>;
    await init(wasm, { print: () => {}, printErr: (line: string) => d.warnings.push(line) });
    return d;
  }

  async decode(bytes: Uint8Array): Promise<RgbImage> {
    const kind = sniff(bytes);
    if (kind === 'png') return pngToRgb(bytes);
    if (kind === 'jpeg-cmyk') return cmykJpegToRgb(bytes);
    this.warnings = [];
    let rgba: { width: number; height: number; data: ArrayLike<number> };
    try {
      // @jsquash/jpeg wants an ArrayBuffer of exactly the file. A copy, not bytes.slice(): on a Node Buffer
      // slice() is a view whose .buffer may be a shared pool holding other data.
      const exact = new Uint8Array(bytes.byteLength);
      exact.set(bytes);
      rgba = await jsquashDecode(exact.buffer);
    } catch (e) {
      throw new ImageDecodeError(this.warnings[0] ?? (e as Error).message);
    }
    // PIL stops with "image file is truncated" where libjpeg warns of a premature end and pads with grey.
    const truncated = this.warnings.find((w) => /premature end/i.test(w));
    if (truncated) throw new ImageDecodeError(`truncated JPEG (${truncated})`);
    return { width: rgba.width, height: rgba.height, data: dropAlpha(rgba.data, rgba.width * rgba.height, 4) };
  }
}

/** What a file holds, from its first bytes and, for JPEG, the component count of its frame header. */
export function sniff(bytes: Uint8Array): ImageKind {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ImageDecodeError('neither a JPEG nor a PNG (unknown signature)');
  let p = 2;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) { p++; continue; }
    const m = bytes[p + 1];
    if (m === 0xff || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { p++; continue; }
    const len = (bytes[p + 2] << 8) | bytes[p + 3];
    const isFrame = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isFrame) {
      if (p + 10 > bytes.length) break;
      return bytes[p + 9] === 4 ? 'jpeg-cmyk' : 'jpeg';
    }
    p += 2 + len;
  }
  throw new ImageDecodeError('JPEG without a frame header (truncated or corrupt)');
}

function cmykJpegToRgb(bytes: Uint8Array): RgbImage {
  try {
    const img = jpegJs.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new ImageDecodeError(`CMYK JPEG: ${(e as Error).message}`);
  }
}

function pngToRgb(bytes: Uint8Array): RgbImage {
  let png: ReturnType<typeof decodePng>;
  try {
    png = decodePng(bytes);
  } catch (e) {
    throw new ImageDecodeError(`PNG: ${(e as Error).message}`);
  }
  const { width, height } = png;
  const n = width * height;
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    return { width, height, data: dropAlpha(rgb, n, rgb.length / n) };
  }
  // 16-bit samples keep their high byte (PIL's RGB;16B); 1/2/4-bit grey is scaled to 0..255.
  const channels = png.channels;
  const samples = png.depth === 16 ? Uint8Array.from(png.data as Uint16Array, (v) => v >> 8)
    : png.depth < 8 ? unpackBits(png.data as Uint8Array, width, height, png.depth) : (png.data as Uint8Array);
  if (channels >= 3) return { width, height, data: dropAlpha(samples, n, channels) };
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out.fill(samples[i * channels], 3 * i, 3 * i + 3);
  return { width, height, data: out };
}

function unpackBits(packed: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const v = (packed[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & max;
      out[y * width + x] = Math.round((v * 255) / max);
    }
  }
  return out;
}

function dropAlpha(src: ArrayLike<number>, n: number, channels: number): Uint8Array {
  if (channels === 3 && src instanceof Uint8Array) return src;
  const out = new Uint8Array(n * 3);
  for (let i = 0, s = 0, o = 0; i < n; i++, s += channels, o += 3) {
    out[o] = src[s];
    out[o + 1] = src[s + 1];
    out[o + 2] = src[s + 2];
  }
  return out;
}

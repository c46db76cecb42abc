// IDX (MNIST format) decoding in Node and the browser; the byte loops run in build/idx.wasm.
import { Gunzip } from 'fflate';
import { DataError, type Split } from './dataset.js';

export { DataError } from './dataset.js';

interface IdxExports {
  memory: WebAssembly.Memory;
  OK: WebAssembly.Global;
  ERR_EMPTY: WebAssembly.Global;
  ERR_SHORT_HEADER: WebAssembly.Global;
  ERR_MAGIC: WebAssembly.Global;
  ERR_TYPE: WebAssembly.Global;
  ERR_RANK: WebAssembly.Global;
  ERR_TRUNCATED: WebAssembly.Global;
  ERR_TRAILING: WebAssembly.Global;
  alloc(size: number): number;
  parseHeader(ptr: number, len: number): number;
  checkLength(len: number): number;
  rank(): number;
  dim(i: number): number;
  headerLength(): number;
  bytesToUnitFloat(src: number, dst: number, n: number): void;
  bytesToInt32(src: number, dst: number, n: number): void;
}

export interface IdxArray<T> {
  dims: number[];
  data: T;
}

export interface IdxPair extends Split {
  /** [channels = 1, rows, cols] */
  shape: [number, number, number];
  numClasses: number;
}

const DATA_DIR_HINT = 'check that --data-dir points at MNIST-style IDX files';
const TYPE_NAMES: Record<number, string> = { 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

let wasmModule: WebAssembly.Module | null = null;

/** The decoder holds a file and its 4-bytes-per-value output in one 32-bit WebAssembly memory. */
const MAX_IDX_BYTES = Math.floor((2 ** 32 - 1) / 4);

/** Compiles the decoder (build/idx.wasm); call once before decodeIdx or loadIdxPair. */
export async function initIdxDecoder(wasmBytes: ArrayBuffer | Uint8Array): Promise<void> {
  wasmModule = await WebAssembly.compile(wasmBytes as BufferSource);
}

/**
 * How many bytes the decompressed data may hold, judged from its first bytes: a number once they tell (a file
 * format's header), undefined while more are needed. Decompression stops as soon as the output passes it.
 */
export type InflateLimit = (head: Uint8Array) => number | undefined;

/** Compressed input fed to the inflater at a time: at most about 1032 times this comes out of one push. */
const INFLATE_SLICE = 16 * 1024;

/**
 * Returns the bytes unchanged, or inflated when they start with the gzip magic 1f 8b. With `limit`, data that
 * inflates to more than it allows is refused as soon as it passes it, so a small "gzip bomb" costs no more
 * time or memory than an honest file.
 */
export function gunzipIfNeeded(bytes: Uint8Array, what = 'data', limit?: InflateLimit): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  // gunzipSync sizes its output from the last 4 bytes, which in a truncated file are arbitrary
  // (it can return a huge zero-filled buffer), and streaming alone misses many truncations;
  // so stream, then compare the last member's size field with what it inflated to.
  const chunks: Uint8Array[] = [];
  let total = 0;
  let memberStart = 0;
  let cap: number | undefined;
  let head = new Uint8Array(0);
  const gunzip = new Gunzip((chunk) => {
    chunks.push(chunk);
    total += chunk.length;
    if (limit && cap === undefined && head.length < 64) {
      const more = new Uint8Array(Math.min(64, head.length + chunk.length));
      more.set(head);
      more.set(chunk.subarray(0, more.length - head.length), head.length);
      head = more;
      cap = limit(head);
    }
  });
  gunzip.onmember = () => { memberStart = total; };
  const corrupt = (reason: string) => new DataError(`${what}: corrupt gzip data (${reason}); re-download the file, or check it with gunzip -t`);
  try {
    for (let at = 0; at < bytes.length; at += INFLATE_SLICE) {
      const end = Math.min(bytes.length, at + INFLATE_SLICE);
      gunzip.push(bytes.subarray(at, end), end === bytes.length);
      if (cap !== undefined && total > cap) {
        const problem = `decompresses to more than the ${cap} bytes its header declares`;
        throw new DataError(`${what}: ${problem}; the file is corrupt (or a decompression bomb), so re-download it`);
      }
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw corrupt(e instanceof Error ? e.message : String(e));
  }
  const n = bytes.length;
  const isize = n >= 18 ? (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0 : -1;
  if (isize !== (total - memberStart) % 2 ** 32) throw corrupt('truncated, or its size field does not match the data');
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/**
 * The size an IDX file's header declares (4 bytes, 4 per dimension, one per value), once enough of it is there;
 * for bytes that are not an IDX header, the header's own length, so a mislabelled file is not inflated whole
 * before decodeIdx names the problem.
 */
export function declaredIdxSize(head: Uint8Array): number | undefined {
  if (head.length < 4) return undefined;
  const rank = head[3];
  if (head[0] !== 0 || head[1] !== 0 || rank < 1 || rank > 4) return 64;
  const header = 4 + 4 * rank;
  if (head.length < header) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  let values = 1;
  for (let i = 0; i < rank; i++) values *= view.getUint32(4 + 4 * i, false);
  return header + values;
}

/**
 * Decodes an unsigned-byte IDX file (gzipped or not): 'float' scales values to [0, 1],
 * 'int' keeps them as integers. `rank`, when given, is the number of dimensions required.
 * `data` views a buffer that nothing else uses.
 */
export function decodeIdx(bytes: Uint8Array, what: string, as?: 'float', rank?: number): IdxArray<Float32Array>;
export function decodeIdx(bytes: Uint8Array, what: string, as: 'int', rank?: number): IdxArray<Int32Array>;
export function decodeIdx(bytes: Uint8Array, what: string, as: 'float' | 'int' = 'float', rank?: number): IdxArray<Float32Array | Int32Array> {
  if (!wasmModule) throw new Error('IDX decoder not initialised; call initIdxDecoder(build/idx.wasm bytes) first');
  const raw = gunzipIfNeeded(bytes, what, (head) => {
    const size = declaredIdxSize(head);
    if (size !== undefined && size > MAX_IDX_BYTES) {
      throw new DataError(`${what}: its header declares ${size} bytes, more than the ${MAX_IDX_BYTES} the decoder can hold; use a smaller file`);
    }
    return size;
  });
  // A fresh instance per file lets its (possibly large) memory be collected with the result.
  const ex = new WebAssembly.Instance(wasmModule, {}).exports as unknown as IdxExports;
  // The file is placed so that it ends where a 4-bytes-per-value output would end: converting
  // front to back then never overwrites unread input, and the result needs no copy.
  const base = allocate(ex, 4 * raw.length, what);
  const file = base + 3 * raw.length;
  new Uint8Array(ex.memory.buffer, file, raw.length).set(raw);

  const fail = (code: number, dims: number[] = []) => new DataError(`${what}: ${describe(ex, code, raw, dims, rank)}`);
  const headerCode = ex.parseHeader(file, raw.length);
  if (headerCode !== ex.OK.value) throw fail(headerCode);
  const dims = Array.from({ length: ex.rank() }, (_, i) => ex.dim(i) >>> 0);
  if (rank !== undefined && dims.length !== rank) {
    const found = `${dims.length} dimension${dims.length === 1 ? '' : 's'} (${dims.join('x')})`;
    const wanted = rank === 1 ? 'a label file has 1 (count)' : `an image file has ${rank} (count, rows, cols)`;
    throw new DataError(`${what}: has ${found} but ${wanted}; check that image and label files are not swapped`);
  }
  const lengthCode = ex.checkLength(raw.length);
  if (lengthCode !== ex.OK.value) throw fail(lengthCode, dims);

  const n = product(dims);
  const header = ex.headerLength();
  const dst = base + 4 * header;
  if (as === 'int') {
    ex.bytesToInt32(file + header, dst, n);
    return { dims, data: new Int32Array(ex.memory.buffer, dst, n) };
  }
  ex.bytesToUnitFloat(file + header, dst, n);
  return { dims, data: new Float32Array(ex.memory.buffer, dst, n) };
}

/**
 * Decodes a matching pair of MNIST-style files: images (count x rows x cols) and labels (count),
 * with labels required to lie in 0..numClasses-1.
 */
export function loadIdxPair(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  nameForErrors: string | { images: string; labels: string },
  numClasses = 10,
): IdxPair {
  const names = typeof nameForErrors === 'string'
    ? { images: `${nameForErrors} images`, labels: `${nameForErrors} labels` }
    : nameForErrors;
  const images = decodeIdx(imageBytes, names.images, 'float', 3);
  const labels = decodeIdx(labelBytes, names.labels, 'int', 1);
  const [n, rows, cols] = images.dims;
  if (labels.dims[0] !== n) {
    throw new DataError(`${names.images} has ${n} images but ${names.labels} has ${labels.dims[0]} labels; use the image and label files of the same split`);
  }
  if (n === 0 || rows === 0 || cols === 0) {
    throw new DataError(`${names.images}: holds no pixels (${images.dims.join('x')}); re-download the file`);
  }
  const bad = labels.data.findIndex((y) => y >= numClasses);
  if (bad >= 0) {
    throw new DataError(`${names.labels}: label ${labels.data[bad]} at index ${bad} is outside 0..${numClasses - 1}; use a label file with ${numClasses} classes`);
  }
  return { images: images.data, labels: labels.data, n, shape: [1, rows, cols], numClasses };
}

function allocate(ex: IdxExports, size: number, what: string): number {
  const ptr = size < 2 ** 32 ? ex.alloc(size) >>> 0 : 0;
  if (ptr === 0) throw new DataError(`${what}: needs ${size} bytes of decoder memory, more than WebAssembly allows; use a smaller file`);
  return ptr;
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function hex32(bytes: Uint8Array): string {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (bytes[i] ?? 0);
  return '0x' + v.toString(16).padStart(8, '0');
}

function describe(ex: IdxExports, code: number, raw: Uint8Array, dims: number[], rank?: number): string {
  const len = raw.length;
  const expected = 4 + 4 * dims.length + product(dims);
  switch (code) {
    case ex.ERR_EMPTY.value:
      return `file is empty (0 bytes); re-download it, or ${DATA_DIR_HINT}`;
    case ex.ERR_SHORT_HEADER.value:
      return `only ${len} byte${len === 1 ? '' : 's'}, too short for the IDX header (4 bytes plus 4 per dimension); re-download the file`;
    case ex.ERR_MAGIC.value: {
      const want = rank === undefined ? '0x000008NN, NN = number of dimensions' : `0x0000080${rank}`;
      return `wrong magic number ${hex32(raw)} (expected an IDX file of unsigned bytes: ${want}); ${DATA_DIR_HINT}`;
    }
    case ex.ERR_TYPE.value: {
      const type = raw[2];
      const name = TYPE_NAMES[type] ?? 'unknown type';
      return `IDX element type 0x${type.toString(16).padStart(2, '0')} (${name}) is not supported, only unsigned bytes (0x08); convert the file or ${DATA_DIR_HINT}`;
    }
    case ex.ERR_RANK.value:
      return `IDX header ${hex32(raw)} declares ${raw[3]} dimensions, but only 1 to 4 are valid; the file is corrupt or not IDX, so ${DATA_DIR_HINT}`;
    case ex.ERR_TRUNCATED.value:
      return `truncated: the header describes ${dims.join('x')} values, so ${expected} bytes are expected, but the file has ${len}; re-download the file`;
    case ex.ERR_TRAILING.value:
      return `${len - expected} trailing bytes: the header describes ${dims.join('x')} values, so ${expected} bytes are expected, but the file has ${len}; re-download the file`;
    default:
      return `decoder error code ${code}; rebuild build/idx.wasm with npm run asbuild`;
  }
}

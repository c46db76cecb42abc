/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}},
 * then the tensor bytes, little-endian, offsets relative to the end of the header.
 * Works on bytes only (no file system), so the browser can use it too.
 */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export type Dtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'U64' | 'BOOL';
const BYTES: Record<Dtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1 };

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface SafeTensor {
  name: string;
  shape: number[];
  data: TensorData;
  /** Inferred from the typed array when omitted (Uint8Array means U8). */
  dtype?: Dtype;
}

export interface LoadedTensor {
  dtype: Dtype;
  shape: number[];
  /** F32 -> Float32Array, F64 -> Float64Array, I32 -> Int32Array, I64 -> BigInt64Array, other dtypes -> raw bytes. */
  data: TensorData;
}

/** Largest header the reference implementation accepts (100 MB); larger means a corrupt file. */
const MAX_HEADER = 100_000_000;

function dtypeOf(t: SafeTensor): Dtype {
  if (t.dtype) return t.dtype;
  if (t.data instanceof Float32Array) return 'F32';
  if (t.data instanceof Float64Array) return 'F64';
  if (t.data instanceof Int32Array) return 'I32';
  if (t.data instanceof BigInt64Array) return 'I64';
  return 'U8';
}

/** Serialise tensors (in the given order) and string metadata. */
export function encodeSafetensors(tensors: SafeTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const parts = safetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/**
 * The file as consecutive pieces, the length-prefixed header then each tensor's bytes (views, not copies), so a
 * large file can be written piece by piece without a second copy in memory.
 */
export function safetensorsParts(tensors: SafeTensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata value for "${k}" is a ${typeof v}; safetensors metadata must be strings`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) throw new SafetensorsError(`tensor name "${t.name}" is reserved or used twice; give each tensor a `
      + `unique name`);
    seen.add(t.name);
    const dtype = dtypeOf(t);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new SafetensorsError(`tensor "${t.name}" has shape [${t.shape}]; dimensions must be `
      + `non-negative integers`);
    if (t.data.byteLength !== count * BYTES[dtype]) {
      throw new SafetensorsError(`tensor "${t.name}" holds ${t.data.byteLength} bytes but shape [${t.shape}] of ${dtype} needs ${count * BYTES[dtype]}`);
    }
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + text.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(text.length), true);
  head.set(text, 8);
  return [head, ...tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
}

/** Parse and validate a safetensors file; `source` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors file'): { tensors: Map<string, LoadedTensor>; metadata: Record<string, string> } {
  const bad = (problem: string) => new SafetensorsError(`${source} is not a valid safetensors file: ${problem}`);
  if (bytes.length < 8) throw bad(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER) || Number(n) > bytes.length - 8) throw bad(`header length ${n} exceeds the file's ${bytes.length - 8} remaining bytes`);
  const headLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headLen)));
  } catch (e) {
    throw bad(`header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const dataStart = 8 + headLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, LoadedTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, any>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object') throw bad(`entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: off } = entry;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw bad(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`tensor "${name}" has shape ${JSON.stringify(shape)}, not a `
      + `list of non-negative integers`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1]) {
      throw bad(`tensor "${name}" has data_offsets ${JSON.stringify(off)}, not [begin, end] with 0 <= begin <= end`);
    }
    if (off[1] > dataLen) throw bad(`tensor "${name}" ends at byte ${off[1]} but the data section holds ${dataLen} bytes (truncated file?)`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = BYTES[dtype as Dtype];
    if (off[1] - off[0] !== count * size) throw bad(`tensor "${name}" spans ${off[1] - off[0]} bytes but shape [${shape}] of ${dtype} needs ${count * size}`);
    spans.push([off[0], off[1], name]);
    tensors.set(name, { dtype: dtype as Dtype, shape, data: view_(bytes.subarray(dataStart + off[0], dataStart + off[1]), dtype as Dtype) });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

/**
 * A loaded tensor's values as float32 (F32 as is; F64, I32 and I64 converted, as for PyTorch's int64 counters), or
 * null for a dtype that has no exact enough float32 reading here (F16, BF16, 8- and 16-bit integers, BOOL).
 */
export function asFloat32(t: LoadedTensor): Float32Array | null {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof Float64Array || d instanceof Int32Array) return Float32Array.from(d);
  if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
  return null;
}

/** A float32 tensor as a checkpoint stores it: F32, or I64 where asked (PyTorch's integer counters). */
export function storedTensor(t: { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'I64' }): SafeTensor {
  if (t.dtype !== 'I64') return { name: t.name, shape: t.shape, data: t.data, dtype: 'F32' };
  return { name: t.name, shape: t.shape, data: BigInt64Array.from(t.data, (v) => BigInt(Math.round(v))), dtype: 'I64' };
}

/** A copy of the bytes as a typed array (copied so alignment never matters and the source can be freed). */
function view_(raw: Uint8Array, dtype: Dtype): TensorData {
  // new Uint8Array(view) always copies; a Node Buffer's slice() would share the whole pooled buffer.
  const copy = new Uint8Array(raw);
  switch (dtype) {
    case 'F32': return new Float32Array(copy.buffer);
    case 'F64': return new Float64Array(copy.buffer);
    case 'I32': return new Int32Array(copy.buffer);
    case 'I64': return new BigInt64Array(copy.buffer);
    default: return copy;
  }
}

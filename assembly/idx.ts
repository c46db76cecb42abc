// IDX decoder (the MNIST file format). The host copies a file into memory obtained
// from alloc(), validates it with parseHeader() and checkLength(), reads rank()/dim(i),
// then converts the payload with bytesToUnitFloat() or bytesToInt32().
// A fresh instance is used per file, so the bump allocator never frees.

// Error codes, exported so that engine/data/idx.ts can match them by name.
export const OK: i32 = 0;
export const ERR_EMPTY: i32 = 1;
export const ERR_SHORT_HEADER: i32 = 2;
export const ERR_MAGIC: i32 = 3;
export const ERR_TYPE: i32 = 4;
export const ERR_RANK: i32 = 5;
export const ERR_TRUNCATED: i32 = 6;
export const ERR_TRAILING: i32 = 7;

const UNSIGNED_BYTE: u8 = 0x08;
const MAX_RANK: u8 = 4;

let top: usize = (__heap_base + 15) & ~15;
let header: usize = 0;

/** Reserves `size` bytes (16-byte aligned), growing memory as needed; 0 when memory is exhausted. */
export function alloc(size: usize): usize {
  const ptr = top;
  const end = (<u64>ptr + <u64>size + 15) & ~(<u64>15);
  if (end > 0x1_0000_0000) return 0;
  const have = <u64>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  top = <usize>end;
  return ptr;
}

/** Checks the 4-byte magic (0x00 0x00 type rank) and that the file holds the whole header. */
export function parseHeader(ptr: usize, len: usize): i32 {
  header = ptr;
  if (len == 0) return ERR_EMPTY;
  if (len < 4) return ERR_SHORT_HEADER;
  if (load<u8>(ptr) != 0 || load<u8>(ptr, 1) != 0) return ERR_MAGIC;
  const type = load<u8>(ptr, 2);
  if (!isIdxType(type)) return ERR_MAGIC; // not an IDX file at all, rather than an unsupported one
  if (type != UNSIGNED_BYTE) return ERR_TYPE;
  const r = load<u8>(ptr, 3);
  if (r < 1 || r > MAX_RANK) return ERR_RANK;
  if (len < headerLength()) return ERR_SHORT_HEADER;
  return OK;
}

// IDX element types: u8, i8, i16, i32, f32, f64.
function isIdxType(type: u8): bool {
  return type == UNSIGNED_BYTE || type == 0x09 || (type >= 0x0b && type <= 0x0e);
}

export function rank(): i32 {
  return load<u8>(header, 3);
}

/** Dimension i, stored big-endian after the magic. */
export function dim(i: i32): u32 {
  return bswap<u32>(load<u32>(header + 4 + (<usize>i << 2)));
}

export function headerLength(): usize {
  return 4 + 4 * <usize>rank();
}

/** Compares the file length with header + prod(dims); call after parseHeader() returned OK. */
export function checkLength(len: usize): i32 {
  // Saturate the product so that four large dims cannot wrap around u64.
  let count: u64 = 1;
  for (let i = 0, r = rank(); i < r; i++) {
    count *= <u64>dim(i);
    if (count > 0x1_0000_0000) count = 0x1_0000_0000;
  }
  const expected = <u64>headerLength() + count;
  if (<u64>len < expected) return ERR_TRUNCATED;
  if (<u64>len > expected) return ERR_TRAILING;
  return OK;
}

// The converters may run in place with dst + 3*n == src (output and input end together):
// each 4-byte write then lands below every byte not yet read.

/** dst[i] = src[i] / 255 as float32, for n bytes. */
export function bytesToUnitFloat(src: usize, dst: usize, n: usize): void {
  for (let i: usize = 0; i < n; i++) {
    store<f32>(dst + (i << 2), <f32>load<u8>(src + i) / 255.0);
  }
}

/** dst[i] = src[i] as int32, for n bytes. */
export function bytesToInt32(src: usize, dst: usize, n: usize): void {
  for (let i: usize = 0; i < n; i++) {
    store<i32>(dst + (i << 2), <i32>load<u8>(src + i));
  }
}

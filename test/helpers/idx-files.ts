// Writers for the on-disk formats the data tests feed to the loaders.

/** An IDX file: magic 0x00 0x00 type rank, big-endian dims, then one byte per value. */
export function idxBytes(dims: number[], values: ArrayLike<number>, type = 0x08): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + values.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(values), header);
  return out;
}

/** A CIFAR-10 binary batch: per record one label byte then 3072 pixel bytes (CHW). */
export function cifarBytes(labels: number[], pixels: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((y, i) => {
    out[i * 3073] = y;
    out.set(pixels.subarray(i * 3072, (i + 1) * 3072), i * 3073 + 1);
  });
  return out;
}

/** Random IDX images [n, side, side] and labels [n] of ten classes, drawn from `int(k)` (a seeded Rng's). */
export function randomIdx(rng: { int(k: number): number }, side: number) {
  return {
    images: (n: number) => idxBytes([n, side, side], Array.from({ length: n * side * side }, () => rng.int(256))),
    labels: (n: number) => idxBytes([n], Array.from({ length: n }, () => rng.int(10))),
  };
}

/** A file for Playwright's setInputFiles. */
export function pickedFile(name: string, bytes: Uint8Array) {
  return { name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) };
}

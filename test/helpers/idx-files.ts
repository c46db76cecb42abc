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

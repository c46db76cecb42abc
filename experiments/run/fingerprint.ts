// Node only: which run a checkpoint belongs to. A digest of the run's settings and of the examples it trains and
// evaluates on, recorded in every checkpoint, so that a checkpoint copied from another run (or left by an earlier
// run with other data under the same path) is refused instead of silently adopted.
import { createHash } from 'node:crypto';
import type { Split } from '../../engine/data/dataset.js';

/** Computed once per array: the same data is fingerprinted by every run of an experiment. */
const splitDigests = new WeakMap<ArrayBufferView, string>();

/** A digest of a split's values and labels (sha1: an identity check against accidents, not against forgery). */
function splitDigest(split: Split): string {
  let digest = splitDigests.get(split.images);
  if (digest === undefined) {
    const h = createHash('sha1');
    h.update(new Uint8Array(split.images.buffer, split.images.byteOffset, split.images.byteLength));
    h.update(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
    digest = `${split.n}:${h.digest('hex')}`;
    splitDigests.set(split.images, digest);
  }
  return digest;
}

/** JSON with object keys sorted, so that the order settings were written in does not matter. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The fingerprint of a run: its settings except those that may change between a run and its resumption
 * (`ignoreKeys`: the adapter, the package version, how often it logs...), and the splits it reads.
 */
export function runFingerprint(settings: Record<string, unknown>, ignoreKeys: readonly string[], splits: Split[]): string {
  const kept = Object.fromEntries(Object.entries(settings).filter(([k]) => !ignoreKeys.includes(k)));
  const h = createHash('sha1');
  h.update(stableJson(kept));
  for (const s of splits) h.update(splitDigest(s));
  return h.digest('hex');
}

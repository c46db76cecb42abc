/**
 * Prepared image datasets: fixed-size uint8 images in safetensors shards, readable from Python with numpy alone.
 * DIR/index.json (this Manifest), DIR/classes.json (class names, index = label), DIR/skipped.tsv (files not
 * decodable) and DIR/<split>/shard-NNNNN.safetensors, each holding `images` U8 [N, 3, H, W] and `labels` I64 [N].
 * Shard s of a split holds the decodable files among sorted files s * shardSize .. (s + 1) * shardSize - 1.
 */
export const MANIFEST = 'index.json';
export const FORMAT = 'cgh-image-shards';

export interface ShardEntry { file: string; count: number }
export interface SplitEntry { count: number; shards: ShardEntry[] }

export interface Manifest {
  format: typeof FORMAT;
  version: 1;
  /** Shorter side after resizing, and the centre crop: images are [3, crop, crop]. */
  resize: number;
  crop: number;
  shardSize: number;
  classes: number;
  splits: Record<string, SplitEntry>;
}

export function shardFile(split: string, index: number): string {
  return `${split}/shard-${String(index).padStart(5, '0')}.safetensors`;
}

/** The manifest's one-line problem, or null when it is a manifest this code reads. */
export function manifestProblem(m: unknown): string | null {
  const x = m as Partial<Manifest> | null;
  if (!x || typeof x !== 'object' || x.format !== FORMAT) return `it is not a ${FORMAT} manifest`;
  if (x.version !== 1) return `it has version ${x.version}; this build reads version 1`;
  if (!Number.isInteger(x.crop) || !x.splits || typeof x.splits !== 'object') return 'it lacks crop or splits';
  return null;
}

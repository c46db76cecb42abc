/**
 * Tile shapes of the workgroup-memory GEMM core (shaders/_gemm_tile.wgsl), shared by the tiled matmul and the
 * implicit-GEMM convolutions, and the split-K decision for small outputs with a long K.
 */
export interface GemmTile { BM: number; BN: number; TM: number; TN: number; WG: number }

const BK = 16;
/** Largest first; each stages 2 slices of BK x (BM + BN) floats. */
const TILES: GemmTile[] = [
  { BM: 128, BN: 128, TM: 8, TN: 8, WG: 256 },
  { BM: 128, BN: 64, TM: 8, TN: 4, WG: 256 },
  { BM: 64, BN: 128, TM: 4, TN: 8, WG: 256 },
  { BM: 64, BN: 64, TM: 4, TN: 4, WG: 256 },
  { BM: 32, BN: 32, TM: 4, TN: 4, WG: 64 },
];
export const tileBytes = (t: GemmTile) => 2 * BK * (t.BM + t.BN) * 4;

/** Workgroups that keep a data-centre GPU busy (about two per streaming multiprocessor). */
const TARGET_WORKGROUPS = 256;
/** K per split-K chunk, at least: shorter chunks spend more on the second pass than they gain. */
const MIN_CHUNK = 128;
export const MAX_SPLITS = 64;
export const MAX_GRID = 65535;

/**
 * Split-K factor for a product of `workgroups` output tiles over `K`: enough chunks to bring the grid to
 * TARGET_WORKGROUPS, each at least MIN_CHUNK long, at most MAX_SPLITS and `limit` (1 when no split pays).
 */
export function splitK(workgroups: number, K: number, limit = MAX_SPLITS): number {
  if (workgroups >= TARGET_WORKGROUPS || K < 2 * MIN_CHUNK) return 1;
  return Math.max(1, Math.min(MAX_SPLITS, limit, Math.ceil(TARGET_WORKGROUPS / workgroups), Math.floor(K / MIN_CHUNK)));
}

export interface GemmPlan { tile: GemmTile; splits: number; kChunk: number; grid: [number, number, number] }

/**
 * The largest tile that still gives TARGET_WORKGROUPS workgroups over the batch, else the one wasting the least
 * of its tiles on padding; then split-K when even that leaves the GPU mostly idle and K is long. `forceTile` and
 * `forceSplits` are for tests, which check every tile and the split path on small products.
 */
export interface GemmPlanOptions { forceTile?: GemmTile; forceSplits?: number; canSplit?: boolean }

export function planGemm(M: number, N: number, K: number, batch: number, workgroupBytes: number, opts: GemmPlanOptions = {}): GemmPlan {
  const fits = TILES.filter((t) => tileBytes(t) <= workgroupBytes && Math.ceil(N / t.BN) <= MAX_GRID && Math.ceil(M / t.BM) <= MAX_GRID);
  if (fits.length === 0) throw new Error(`a ${M}x${N} product needs more than ${MAX_GRID} workgroups along one grid dimension`);
  const count = (t: GemmTile) => Math.ceil(M / t.BM) * Math.ceil(N / t.BN) * batch;
  const waste = (t: GemmTile) => (Math.ceil(M / t.BM) * t.BM * Math.ceil(N / t.BN) * t.BN) / (M * N);
  let tile = opts.forceTile ?? fits.find((t) => count(t) >= TARGET_WORKGROUPS && waste(t) < 1.25);
  if (!tile) tile = fits.reduce((best, t) => (waste(t) < waste(best) - 1e-9 ? t : best), fits[fits.length - 1]);
  let splits = 1;
  if (opts.forceSplits) splits = opts.forceSplits;
  // A plain product splits only when the GPU would be mostly idle: its second pass costs about as much as a short K saves.
  else if (opts.canSplit !== false && count(tile) * 4 <= TARGET_WORKGROUPS) splits = splitK(count(tile), K);
  const kChunk = Math.ceil(K / splits / BK) * BK;
  splits = Math.max(1, Math.ceil(K / kChunk));
  return { tile, splits, kChunk, grid: [Math.ceil(N / tile.BN), Math.ceil(M / tile.BM), batch * splits] };
}

export const GEMM_TILES = TILES;

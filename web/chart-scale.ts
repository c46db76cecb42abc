// The arithmetic of the page's charts, apart from the DOM: axis ranges and ticks (linear and log), smoothing,
// and the point nearest a hovered position.
export type Point = [number, number];

/** Round tick positions covering [lo, hi]. */
export function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

/** Ticks of a log axis over [lo, hi] (both > 0): the powers of ten, with 2 and 5 times them when there are few. */
export function logTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo)), last = Math.ceil(Math.log10(hi));
  const mantissas = last - first <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = first; e <= last; e++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

/** The values' range, padded a little; starts at 0 when all values are non-negative and close to it. */
export function dataRange(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.01, 1e-6);
  lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
  hi += pad;
  return [lo, hi];
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight `weight` in [0, 1), debiased so that the
 * first points are not pulled towards zero. Weight 0 returns the points unchanged.
 */
export function smooth(points: Point[], weight: number): Point[] {
  if (!(weight > 0)) return points;
  let last = 0, debias = 1;
  return points.map(([x, y]) => {
    last = last * weight + (1 - weight) * y;
    debias *= weight;
    return [x, last / (1 - debias)];
  });
}

/** Where x lies along the axis, from 0 (lo) to 1 (hi), on a linear or a log axis. */
export function axisFraction(x: number, [lo, hi]: [number, number], log: boolean): number {
  if (log) return (Math.log10(x) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1);
  return (x - lo) / (hi - lo || 1);
}

/** The inverse of axisFraction. */
export function axisValue(f: number, [lo, hi]: [number, number], log: boolean): number {
  if (log) return 10 ** (Math.log10(lo) + f * (Math.log10(hi) - Math.log10(lo)));
  return lo + f * (hi - lo);
}

/** The point whose x is nearest to `x` (points sorted by x), or null for none. */
export function nearestPoint(points: Point[], x: number): Point | null {
  if (points.length === 0) return null;
  let lo = 0, hi = points.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] <= x) lo = mid; else hi = mid;
  }
  return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo] : points[hi];
}

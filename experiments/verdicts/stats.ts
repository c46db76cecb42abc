/** Small statistics for verdicts: plain float64 loops, no dependencies. */

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN below two values. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

/** Standard error of an accuracy p measured on n examples: sqrt(p (1 - p) / n), floored at half an example. */
export function binomialSe(p: number, n: number): number {
  if (!(n > 0) || !Number.isFinite(p)) return NaN;
  const q = Math.min(1, Math.max(0, p));
  return Math.max(Math.sqrt((q * (1 - q)) / n), 0.5 / n);
}

export interface Slope {
  slope: number;
  /** Standard error of the slope; NaN when it cannot be estimated. */
  se: number;
  n: number;
}

/**
 * Least-squares slope of y over x. With `se` per point the fit is weighted by 1/se^2 and the slope's
 * standard error comes from those errors; without, from the residuals (needs at least 3 points).
 */
export function leastSquaresSlope(x: readonly number[], y: readonly number[], se?: readonly number[]): Slope {
  const n = x.length;
  if (n !== y.length || (se && se.length !== n)) throw new Error(`slope: ${n} x values, ${y.length} y values${se ? `, ${se.length} errors` : ''}`);
  if (n < 2) return { slope: NaN, se: NaN, n };
  const w = x.map((_, i) => (se ? 1 / (se[i] * se[i]) : 1));
  let sw = 0, sx = 0, sy = 0;
  for (let i = 0; i < n; i++) { sw += w[i]; sx += w[i] * x[i]; sy += w[i] * y[i]; }
  const mx = sx / sw, my = sy / sw;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) { sxx += w[i] * (x[i] - mx) ** 2; sxy += w[i] * (x[i] - mx) * (y[i] - my); }
  if (!(sxx > 0)) return { slope: NaN, se: NaN, n };
  const slope = sxy / sxx;
  if (se) return { slope, se: Math.sqrt(1 / sxx), n };
  if (n < 3) return { slope, se: NaN, n };
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (y[i] - my - slope * (x[i] - mx)) ** 2;
  return { slope, se: Math.sqrt(rss / (n - 2) / sxx), n };
}

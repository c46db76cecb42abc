/** A 1D launch of `n` invocations in workgroups of `wg`, folded into 2D when it exceeds one grid dimension. */
export function grid1d(n: number, wg = 64, maxX = 65535): { grid: [number, number, number]; rowStride: number } {
  const groups = Math.max(1, Math.ceil(n / wg));
  const x = Math.min(groups, maxX);
  return { grid: [x, Math.ceil(groups / x), 1], rowStride: x * wg };
}

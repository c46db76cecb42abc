/**
 * Colours for an ordered quantity (noise levels, winsorization levels, difficulty): n colours along a
 * perceptually ordered ramp (anchors from matplotlib's viridis, dark purple to yellow, the last stop
 * darkened to stay readable on white), so that a reader sees the order without the legend.
 */
const ANCHORS: [number, number, number][] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [200, 190, 20]];

export function orderedColors(n: number): string[] {
  if (n <= 0) return [];
  if (n === 1) return [hex(ANCHORS[0])];
  return Array.from({ length: n }, (_, i) => {
    const t = (i / (n - 1)) * (ANCHORS.length - 1);
    const k = Math.min(Math.floor(t), ANCHORS.length - 2), f = t - k;
    return hex(ANCHORS[k].map((c, j) => c + (ANCHORS[k + 1][j] - c) * f) as [number, number, number]);
  });
}

function hex(rgb: [number, number, number]): string {
  return '#' + rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('');
}

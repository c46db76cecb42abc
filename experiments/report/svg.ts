/**
 * Inline SVG charts for the reports: line charts with titled axes, ticks, a grid and a legend; bar charts
 * for per-level tables. Plain strings, no external assets, so the page reads offline.
 */

export interface Series {
  label: string;
  color: string;
  dash?: boolean;
  /** [x, y]; y may be NaN (a gap). */
  points: [number, number][];
  /** [x, low, high]: the spread over seeds, drawn as a translucent band behind the line. */
  band?: [number, number, number][];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range, e.g. [0, 100] for accuracy in percent; otherwise from the data. */
  yRange?: [number, number];
  /** Horizontal reference line (e.g. a 90% goal), labelled. */
  hline?: { y: number; label: string };
  /** A logarithmic x axis (the dense early evaluations spread out); x <= 0 sits at the smallest positive x. */
  logX?: boolean;
  width?: number;
  height?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toPrecision(4) + '';
}

/** Powers of 10 (and 2x, 5x when few) between lo and hi, for a logarithmic axis. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(+v.toPrecision(12));
    }
  }
  return out.length > 8 ? out.filter((v) => /^1/.test(String(v))) : out;
}

export function lineChart(input: LineChartOptions): string {
  // Only series with data are drawn and listed in the legend.
  const o = { ...input, series: input.series.filter((s) => s.points.some(([x, y]) => Number.isFinite(x) && Number.isFinite(y))) };
  const W = o.width ?? 560, H0 = o.height ?? 300;
  const legendRows = Math.ceil(o.series.length / 2);
  const H = H0 + legendRows * 16 + 8;
  const m = { left: 58, right: 16, top: 30, bottom: 44 };
  const pw = W - m.left - m.right, ph = H0 - m.top - m.bottom;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const positive = xs.filter((x) => x > 0);
  const xFloor = positive.length ? Math.min(...positive) : 1;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const xMin = o.logX ? xFloor : xs.length ? Math.min(0, ...xs) : 0;
  const lx = (x: number) => (o.logX ? Math.log10(Math.max(x, xFloor)) : x);
  let [yMin, yMax] = o.yRange ?? [ys.length ? Math.min(0, ...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (!o.yRange) yMax = yMax > yMin ? yMax * 1.05 : yMin + 1;
  const X = (x: number) => m.left + ((lx(x) - lx(xMin)) / (lx(xMax) - lx(xMin) || 1)) * pw;
  const Y = (y: number) => m.top + ph - ((Math.min(Math.max(y, yMin), yMax) - yMin) / (yMax - yMin || 1)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" role="img" `
    + `aria-label="${esc(o.title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of o.logX ? logTicks(xMin, xMax) : niceTicks(xMin, xMax, 6)) {
    parts.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${X(t).toFixed(1)}" y="${m.top + ph + 15}" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle" class="x-label">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" class="y-label">${esc(o.yLabel)}</text>`);
  if (o.hline && o.hline.y >= yMin && o.hline.y <= yMax) {
    const y = Y(o.hline.y).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="2 3"/>`);
    parts.push(`<text x="${m.left + pw - 4}" y="${+y - 4}" text-anchor="end" fill="#555">${esc(o.hline.label)}</text>`);
  }
  for (const s of o.series) {
    const band = (s.band ?? []).filter(([x, lo, hi]) => [x, lo, hi].every(Number.isFinite));
    if (band.length > 1) {
      const upper = band.map(([x, , hi]) => `${X(x).toFixed(1)},${Y(hi).toFixed(1)}`);
      const lower = band.map(([x, lo]) => `${X(x).toFixed(1)},${Y(lo).toFixed(1)}`).reverse();
      parts.push(`<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`);
    }
  }
  for (const s of o.series) {
    const segments: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) { segments.push([]); continue; }
      segments[segments.length - 1].push(`${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
    }
    for (const seg of segments.filter((g) => g.length > 0)) {
      const dash = s.dash ? ' stroke-dasharray="6 4"' : '';
      if (seg.length === 1) parts.push(`<circle cx="${seg[0].split(',')[0]}" cy="${seg[0].split(',')[1]}" r="2.5" fill="${s.color}"/>`);
      else parts.push(`<polyline class="series" data-label="${esc(s.label)}" fill="none" stroke="${s.color}" stroke-width="1.8"${dash} `
        + `points="${seg.join(' ')}"/>`);
    }
  }
  o.series.forEach((s, i) => {
    const lx = m.left + (i % 2) * (pw / 2), ly = H0 + Math.floor(i / 2) * 16;
    const dash = s.dash ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${lx + 32}" y="${ly + 4}" class="legend">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface BarGroup { label: string; values: { series: string; value: number; color: string }[] }

/** Grouped vertical bars (e.g. accuracy per difficulty level, one bar per rule). */
export function barChart(o: { title: string; xLabel: string; yLabel: string; groups: BarGroup[]; yRange?: [number,
  number]; width?: number; height?: number }): string {
  const W = o.width ?? 560, H0 = o.height ?? 300;
  const names = [...new Map(o.groups.flatMap((g) => g.values.map((v) => [v.series, v.color] as const))).entries()];
  const H = H0 + Math.ceil(names.length / 2) * 16 + 8;
  const m = { left: 58, right: 16, top: 30, bottom: 44 };
  const pw = W - m.left - m.right, ph = H0 - m.top - m.bottom;
  const vals = o.groups.flatMap((g) => g.values.map((v) => v.value)).filter(Number.isFinite);
  const [yMin, yMax] = o.yRange ?? [0, vals.length ? Math.max(...vals) * 1.05 || 1 : 1];
  const Y = (y: number) => m.top + ph - ((Math.min(Math.max(y, yMin), yMax) - yMin) / (yMax - yMin || 1)) * ph;
  const gw = pw / Math.max(1, o.groups.length);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" `
    + `font-size="11" role="img" aria-label="${esc(o.title)}">`];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  o.groups.forEach((g, gi) => {
    const bw = (gw * 0.8) / Math.max(1, g.values.length);
    g.values.forEach((v, vi) => {
      if (!Number.isFinite(v.value)) return;
      const x = m.left + gi * gw + gw * 0.1 + vi * bw;
      parts.push(`<rect class="bar" data-series="${esc(v.series)}" x="${x.toFixed(1)}" y="${Y(v.value).toFixed(1)}" width="${(bw - 1).toFixed(1)}" `
        + `height="${(Y(yMin) - Y(v.value)).toFixed(1)}" fill="${v.color}"><title>${esc(`${v.series} ${g.label}: ${fmt(v.value)}`)}</title></rect>`);
    });
    parts.push(`<text x="${(m.left + gi * gw + gw / 2).toFixed(1)}" y="${m.top + ph + 15}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle" class="x-label">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" class="y-label">${esc(o.yLabel)}</text>`);
  names.forEach(([name, color], i) => {
    const lx = m.left + (i % 2) * (pw / 2), ly = H0 + Math.floor(i / 2) * 16;
    parts.push(`<rect x="${lx}" y="${ly - 6}" width="20" height="10" fill="${color}"/>`);
    parts.push(`<text x="${lx + 26}" y="${ly + 4}" class="legend">${esc(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

// A small SVG line chart: named series against a shared x axis, redrawn whole on each update, with a legend of
// line samples, axis labels, values on hover, optional smoothing, a log x axis and a faint previous run.
import { axisFraction, axisValue, dataRange, logTicks, nearestPoint, smooth, ticks, type Point } from './chart-scale.js';

const SVG = 'http://www.w3.org/2000/svg';

export interface SeriesStyle {
  key: string;
  label: string;
  color: string;
  dashed?: boolean;
  /** Smoothed when the chart's smoothing is on (noisy per-step series); the raw line stays, faint. */
  smooth?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  /** A line under the plot saying how to read it (e.g. what "train" is measured on). */
  note?: string;
  /** Fixed y range (accuracy: [0, 1]); otherwise the range of the values seen, padded. */
  yRange?: [number, number];
  yFormat?: (v: number) => string;
  series: SeriesStyle[];
}

/** A run's points by series key, as data() returns them and setOverlay() takes them. */
export type ChartData = Record<string, Point[]>;

const W = 560, H = 300;
const M = { left: 62, right: 16, top: 48, bottom: 58 };
const CHAR = 6.6; // approximate width of a 12px character, for laying out legend entries

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const dash = (s: SeriesStyle): Record<string, string> => (s.dashed ? { 'stroke-dasharray': '5 3' } : {});

export class LineChart {
  readonly svg: SVGSVGElement;
  private readonly points = new Map<string, Point[]>();
  private xMax = 1;
  private smoothing = 0;
  private logX = false;
  private overlay: { label: string; data: ChartData } | null = null;
  private hoverX: number | null = null;
  private readonly hoverLayer: SVGGElement;

  constructor(host: HTMLElement, private readonly opts: ChartOptions) {
    this.svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title, class: 'chart' });
    this.hoverLayer = el('g', { class: 'hover' });
    host.replaceChildren(this.svg);
    this.svg.addEventListener('pointermove', (e) => this.onPointer(e));
    this.svg.addEventListener('pointerleave', () => { this.hoverX = null; this.drawHover(); });
    this.clear();
  }

  /** Remove all points; `xMax` is where the x axis ends until the data go further. */
  clear(xMax = 1): void {
    this.points.clear();
    for (const s of this.opts.series) this.points.set(s.key, []);
    this.xMax = xMax;
    this.draw();
  }

  /** Add a point to every series that has a finite value in `values`. */
  add(x: number, values: Record<string, number | null | undefined>): void {
    for (const s of this.opts.series) {
      const v = values[s.key];
      if (typeof v === 'number' && Number.isFinite(v)) this.points.get(s.key)!.push([x, v]);
    }
    this.xMax = Math.max(this.xMax, x);
  }

  /** How many points each series holds. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.points].map(([k, p]) => [k, p.length]));
  }

  /** A copy of every series' points, to keep and show later with setOverlay(). */
  data(): ChartData {
    return Object.fromEntries([...this.points].map(([k, p]) => [k, p.map(([x, y]) => [x, y] as Point)]));
  }

  /** Exponential smoothing of the series marked `smooth`, 0 (off) to below 1. */
  setSmoothing(weight: number): void {
    this.smoothing = Math.min(Math.max(weight, 0), 0.999);
    this.draw();
  }

  /** A log-scaled x axis (points at x <= 0 are left out while it is on). */
  setLogX(on: boolean): void {
    this.logX = on;
    this.draw();
  }

  /** Show another run's points faintly behind this one's (null removes them). */
  setOverlay(label: string, data: ChartData | null): void {
    this.overlay = data ? { label, data } : null;
    this.draw();
  }

  private shown(points: Point[]): Point[] {
    return this.logX ? points.filter(([x]) => x > 0) : points;
  }

  private xDomain(): [number, number] {
    const all = [...this.points.values(), ...Object.values(this.overlay?.data ?? {})].flat();
    const xMax = Math.max(this.xMax, ...all.map((p) => p[0]));
    if (!this.logX) return [0, xMax];
    const positive = all.map((p) => p[0]).filter((x) => x > 0);
    const lo = positive.length ? Math.min(...positive) : 1;
    return [lo, Math.max(xMax, lo * 10)];
  }

  private yDomain(): [number, number] {
    if (this.opts.yRange) return this.opts.yRange;
    const all = [...this.points.values(), ...Object.values(this.overlay?.data ?? {})].flat();
    return dataRange(this.shown(all).map((p) => p[1]));
  }

  private px(x: number): number {
    return M.left + axisFraction(x, this.xDomain(), this.logX) * (W - M.left - M.right);
  }

  private py(y: number): number {
    const [y0, y1] = this.yDomain();
    return H - M.bottom - ((Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  }

  private path(points: Point[], attrs: Record<string, string | number>): SVGElement {
    const d = points.map(([x, y], i) => `${i ? 'L' : 'M'}${this.px(x).toFixed(1)},${this.py(y).toFixed(1)}`).join('');
    return el('path', { d, class: 'series', ...attrs });
  }

  draw(): void {
    const { opts } = this;
    const [y0, y1] = this.yDomain();
    const [x0, x1] = this.xDomain();
    const fmt = opts.yFormat ?? ((v: number) => String(v));
    const nodes: SVGElement[] = [el('text', { x: M.left, y: 16, class: 'chart-title' }, opts.title)];

    for (const t of ticks(y0, y1, 5)) {
      nodes.push(el('line', { x1: M.left, x2: W - M.right, y1: this.py(t), y2: this.py(t), class: 'grid' }));
      nodes.push(el('text', { x: M.left - 6, y: this.py(t) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(t)));
    }
    for (const t of this.logX ? logTicks(x0, x1) : ticks(x0, x1, 6)) {
      nodes.push(el('line', { x1: this.px(t), x2: this.px(t), y1: H - M.bottom, y2: H - M.bottom + 4, class: 'axis' }));
      nodes.push(el('text', { x: this.px(t), y: H - M.bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(t)));
    }
    nodes.push(el('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'axis' }));
    nodes.push(el('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: 'axis' }));
    const xLabel = this.logX ? `${opts.xLabel} (log scale)` : opts.xLabel;
    nodes.push(el('text', { x: (M.left + W - M.right) / 2, y: H - M.bottom + 34, class: 'axis-label', 'text-anchor': 'middle' }, xLabel));
    if (opts.yLabel) {
      const cy = (M.top + H - M.bottom) / 2;
      nodes.push(el('text', { x: 14, y: cy, class: 'axis-label', 'text-anchor': 'middle', transform: `rotate(-90 14 ${cy})` }, opts.yLabel));
    }
    if (opts.note) nodes.push(el('text', { x: M.left, y: H - 6, class: 'chart-note' }, opts.note));

    if (this.overlay) {
      for (const s of opts.series) {
        const pts = this.shown(this.overlay.data[s.key] ?? []);
        if (pts.length) nodes.push(this.path(pts, { stroke: s.color, class: 'series overlay', 'data-overlay': s.key, ...dash(s) }));
      }
    }
    for (const s of opts.series) {
      const pts = this.shown(this.points.get(s.key)!);
      if (pts.length === 0) continue;
      const smoothed = s.smooth && this.smoothing > 0;
      if (smoothed) nodes.push(this.path(pts, { stroke: s.color, class: 'series raw', ...dash(s) }));
      nodes.push(this.path(smoothed ? smooth(pts, this.smoothing) : pts, { stroke: s.color, 'data-series': s.key, ...dash(s) }));
      if (pts.length === 1) nodes.push(el('circle', { cx: this.px(pts[0][0]), cy: this.py(pts[0][1]), r: 3, fill: s.color }));
    }
    nodes.push(...this.legend());
    nodes.push(el('rect', { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: 'hover-target' }));
    this.svg.replaceChildren(...nodes, this.hoverLayer);
    this.drawHover();
  }

  /** One entry per series with points, each a line sample drawn like the series, then the previous run's. */
  private legend(): SVGElement[] {
    const nodes: SVGElement[] = [];
    let x = M.left;
    const y = 34;
    const entry = (label: string, attrs: Record<string, string | number>, key: string) => {
      const g = el('g', { class: 'legend-entry', 'data-legend': key });
      g.append(el('line', { x1: x, x2: x + 20, y1: y - 4, y2: y - 4, class: 'legend-sample', ...attrs }));
      g.append(el('text', { x: x + 25, y, class: 'legend', fill: 'currentColor' }, label));
      nodes.push(g);
      x += 25 + label.length * CHAR + 14;
    };
    for (const s of this.opts.series) {
      if (this.points.get(s.key)!.length) entry(s.label, { stroke: s.color, ...dash(s) }, s.key);
    }
    if (this.overlay) entry(`faint: ${this.overlay.label}`, { stroke: '#9aa3b2' }, 'overlay');
    return nodes;
  }

  private onPointer(e: PointerEvent): void {
    const box = this.svg.getBoundingClientRect();
    if (box.width === 0) return;
    const sx = ((e.clientX - box.left) / box.width) * W;
    const f = (sx - M.left) / (W - M.left - M.right);
    if (f < 0 || f > 1) { this.hoverX = null; this.drawHover(); return; }
    this.hoverX = axisValue(f, this.xDomain(), this.logX);
    this.drawHover();
  }

  /** Values at the hovered x: a vertical rule, a dot on each series, and a box listing the nearest values. */
  private drawHover(): void {
    if (this.hoverX === null) { this.hoverLayer.replaceChildren(); return; }
    const fmt = this.opts.yFormat ?? ((v: number) => String(Number(v.toPrecision(4))));
    const rows: { text: string; color: string }[] = [];
    const nodes: SVGElement[] = [];
    let shownX: number | null = null;
    for (const s of this.opts.series) {
      const pts = this.shown(this.points.get(s.key)!);
      const p = nearestPoint(pts, this.hoverX);
      if (!p) continue;
      shownX ??= p[0];
      const smoothed = s.smooth && this.smoothing > 0 ? nearestPoint(smooth(pts, this.smoothing), p[0]) : null;
      const value = smoothed ? `${fmt(smoothed[1])} (raw ${fmt(p[1])})` : fmt(p[1]);
      rows.push({ text: `${s.label}: ${value}`, color: s.color });
      nodes.push(el('circle', { cx: this.px(p[0]), cy: this.py(smoothed ? smoothed[1] : p[1]), r: 3.5, fill: s.color }));
    }
    for (const s of this.opts.series) {
      const p = this.overlay && nearestPoint(this.shown(this.overlay.data[s.key] ?? []), this.hoverX);
      if (p) rows.push({ text: `${this.overlay!.label} ${s.label}: ${fmt(p[1])}`, color: '#6b7280' });
    }
    if (rows.length === 0) { this.hoverLayer.replaceChildren(); return; }
    const x = this.px(shownX ?? this.hoverX);
    nodes.unshift(el('line', { x1: x, x2: x, y1: M.top, y2: H - M.bottom, class: 'hover-rule' }));
    const title = `${this.opts.xLabel} ${Number((shownX ?? this.hoverX).toPrecision(4))}`;
    const width = Math.max(title.length, ...rows.map((r) => r.text.length)) * CHAR + 12;
    const bx = x + 8 + width > W - M.right ? x - 8 - width : x + 8;
    const box = el('g', { class: 'hover-box' });
    box.append(el('rect', { x: bx, y: M.top, width, height: 16 * (rows.length + 1) + 6, rx: 4 }));
    box.append(el('text', { x: bx + 6, y: M.top + 15, class: 'hover-title' }, title));
    rows.forEach((r, i) => box.append(el('text', { x: bx + 6, y: M.top + 31 + 16 * i, fill: r.color, class: 'hover-value' }, r.text)));
    nodes.push(box);
    this.hoverLayer.replaceChildren(...nodes);
  }
}

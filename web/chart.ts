// A small SVG line chart: a few named series against a shared x axis, redrawn whole on each update.
const SVG = 'http://www.w3.org/2000/svg';

export interface SeriesStyle { key: string; label: string; color: string; dashed?: boolean }

export interface ChartOptions {
  title: string;
  xLabel: string;
  /** Fixed y range (accuracy: [0, 1]); otherwise the range of the values seen, padded. */
  yRange?: [number, number];
  yFormat?: (v: number) => string;
  series: SeriesStyle[];
}

const W = 560, H = 260;
const M = { left: 52, right: 16, top: 30, bottom: 40 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Round tick positions covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function dataRange(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.01, 1e-6);
  lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
  hi += pad;
  return [lo, hi];
}

export class LineChart {
  readonly svg: SVGSVGElement;
  private readonly points = new Map<string, [number, number][]>();
  private xMax = 1;

  constructor(host: HTMLElement, private readonly opts: ChartOptions) {
    this.svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title, class: 'chart' });
    host.replaceChildren(this.svg);
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

  draw(): void {
    const { svg, opts } = this;
    const all = [...this.points.values()].flat();
    const [y0, y1] = opts.yRange ?? dataRange(all.map((p) => p[1]));
    const fmt = opts.yFormat ?? ((v: number) => String(v));
    const px = (x: number) => M.left + (x / this.xMax) * (W - M.left - M.right);
    const py = (y: number) => H - M.bottom - ((Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    const nodes: SVGElement[] = [el('text', { x: M.left, y: 18, class: 'chart-title' }, opts.title)];

    for (const t of ticks(y0, y1, 5)) {
      nodes.push(el('line', { x1: M.left, x2: W - M.right, y1: py(t), y2: py(t), class: 'grid' }));
      nodes.push(el('text', { x: M.left - 6, y: py(t) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(t)));
    }
    for (const t of ticks(0, this.xMax, 6)) {
      nodes.push(el('line', { x1: px(t), x2: px(t), y1: H - M.bottom, y2: H - M.bottom + 4, class: 'axis' }));
      nodes.push(el('text', { x: px(t), y: H - M.bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(t)));
    }
    nodes.push(el('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'axis' }));
    nodes.push(el('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: 'axis' }));
    nodes.push(el('text', { x: (M.left + W - M.right) / 2, y: H - 6, class: 'axis-label', 'text-anchor': 'middle' }, opts.xLabel));

    let legendX = W - M.right;
    for (const s of [...opts.series].reverse()) {
      const pts = this.points.get(s.key)!;
      if (pts.length === 0) continue;
      const label = el('text', { x: legendX, y: 18, class: 'legend', 'text-anchor': 'end', fill: s.color }, s.label);
      nodes.push(label);
      legendX -= s.label.length * 7 + 16;
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
      nodes.push(el('path', { d, class: 'series', stroke: s.color, 'data-series': s.key, ...(s.dashed ? { 'stroke-dasharray': '5 3' } : {}) }));
      if (pts.length === 1) nodes.push(el('circle', { cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3, fill: s.color }));
    }
    svg.replaceChildren(...nodes);
  }
}

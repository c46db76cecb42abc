import { esc } from './svg.js';
import { renderSummary, renderVerdict, VERDICT_CSS, type Placed } from '../verdicts/render.js';
import type { Verdict } from '../verdicts/verdict.js';

/**
 * The report page: sections of figures, each with the paper's predictions and whether this run agrees
 * beside it, tables (HTML here, CSV files beside the page), and the commands and configs that produced
 * them. One self-contained HTML file with inline CSS and SVG.
 */

/** A panel: its chart and the verdicts on the paper's predictions about it (experiments/verdicts). */
export interface Figure { title: string; svg: string; caption: string; checks: Verdict[] }

/** Small panels laid out as the paper's grid (Figure 2: a rule against SGD per cell; Figure 8: 2 x 3), verdicts below. */
export interface PanelGrid { title: string; caption: string; columns: number; panels: { title: string; svg: string }[]; checks: Verdict[] }

export interface Table { id: string; title: string; columns: string[]; rows: (string | number)[][]; note?: string }

export interface Section {
  id: string;
  title: string;
  /** Where in the paper. */
  paper: string;
  /** What was run, one paragraph. */
  setup: string;
  figures: Figure[];
  /** Grids of small panels, shown before the figures. */
  grids?: PanelGrid[];
  tables: Table[];
  command: string;
  configs: { name: string; config: unknown }[];
  notes?: string[];
}

export function tableCsv(t: Table): string {
  const cell = (v: string | number) => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [t.columns, ...t.rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}

export function csvName(section: Section, t: Table): string {
  return `${section.id}-${t.id}.csv`;
}


const CSS = `
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1160px; color: #222; line-height: 1.4; }
h1 { font-size: 24px; } h2 { font-size: 20px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 36px; }
.figure { display: flex; gap: 18px; align-items: flex-start; margin: 18px 0; flex-wrap: wrap; }
.figure svg { border: 1px solid #ddd; flex: none; }
.checks { flex: 1; min-width: 300px; font-size: 14px; }
.grid { display: grid; gap: 8px; margin: 12px 0; } .grid figure { margin: 0; } .grid figcaption { font-size: 12px; text-align: center; }
.grid svg { width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
pre.command { white-space: pre-wrap; word-break: break-all; }
.summary td:nth-child(3), .summary th:nth-child(3) { text-align: left; }
.small { font-size: 12px; color: #555; }
.summary td:nth-child(4) { text-align: left; font-size: 12px; }
` + VERDICT_CSS;

function renderTable(section: Section, t: Table): string {
  const head = `<tr>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((v) => `<td>${esc(String(v))}</td>`).join('')}</tr>`).join('');
  const note = t.note ? `<p class="small">${esc(t.note)}</p>` : '';
  return `<h3>${esc(t.title)}</h3><table id="${esc(section.id)}-${esc(t.id)}">${head}${body}</table>${note}<p class="small">CSV: <a `
    + `href="${esc(csvName(section, t))}">${esc(csvName(section, t))}</a></p>`;
}

/** Anchors of a section's grids and figures, for the summary's links. */
export function gridAnchor(s: Section, i: number): string { return `${s.id}-grid-${i}`; }
export function figureAnchor(s: Section, i: number): string { return `${s.id}-figure-${i}`; }

function renderGrid(s: Section, g: PanelGrid, i: number, smoke: boolean): string {
  const cells = g.panels.map((p) => `<figure>${p.svg}<figcaption>${esc(p.title)}</figcaption></figure>`).join('');
  return `<div id="${esc(gridAnchor(s, i))}"><h3>${esc(g.title)}</h3><p>${esc(g.caption)}</p>`
    + `<div class="grid" style="grid-template-columns: repeat(${g.columns}, 1fr)">${cells}</div>`
    + `<div class="checks">${g.checks.map((c) => renderVerdict(c, smoke)).join('')}</div></div>`;
}

export function renderSection(s: Section, smoke = false): string {
  const grids = (s.grids ?? []).map((g, i) => renderGrid(s, g, i, smoke)).join('');
  const figures = s.figures.map((f, i) => `<div class="figure" id="${esc(figureAnchor(s, i))}">${f.svg}<div `
    + `class="checks"><h3>${esc(f.title)}</h3><p>${esc(f.caption)}</p>${f.checks.map((c) => renderVerdict(c, smoke)).join('')}</div></div>`).join('');
  const configs = s.configs.map((c) => `<details><summary>${esc(c.name)}</summary><pre>${esc(JSON.stringify(c.config, null, 2))}</pre></details>`).join('');
  const notes = (s.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join('');
  return `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2><p class="small">${esc(s.paper)}</p><p>${esc(s.setup)}</p>`
    + grids + figures + s.tables.map((t) => renderTable(s, t)).join('')
    + (notes ? `<h3>Notes</h3><ul>${notes}</ul>` : '')
    + `<h3>Command</h3><pre class="command">${esc(s.command)}</pre><h3>Run configs</h3>${configs}</section>`;
}

/** Every verdict of the sections with the panel it belongs to. */
export function placedVerdicts(sections: Section[]): Placed[] {
  return sections.flatMap((s) => [
    ...(s.grids ?? []).flatMap((g, i) => g.checks.map((verdict) => ({ verdict, section: s.title, figure: g.title, anchor: gridAnchor(s, i) }))),
    ...s.figures.flatMap((f, i) => f.checks.map((verdict) => ({ verdict, section: s.title, figure: f.title, anchor: figureAnchor(s, i) }))),
  ]);
}

/** The whole page: title, a summary table of every verdict (smoke: cgh reproduce --quick), then the sections. */
export function renderPage(o: { title: string; intro: string[]; sections: Section[]; smoke?: boolean }): string {
  const placed = placedVerdicts(o.sections);
  const summary = placed.length === 0 ? '' : `<h2>Predictions at a glance</h2>${renderSummary(placed, o.smoke)}`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(o.title)}</title><style>${CSS}</style></head><body>`
    + `<h1>${esc(o.title)}</h1>${o.intro.map((p) => `<p>${esc(p)}</p>`).join('')}${summary}`
    + o.sections.map((s) => renderSection(s, o.smoke)).join('') + '</body></html>\n';
}

import { esc } from './svg.js';

/**
 * The report page: sections of figures, each with the paper's predictions and whether this run agrees
 * beside it, tables (HTML here, CSV files beside the page), and the commands and configs that produced
 * them. One self-contained HTML file with inline CSS and SVG.
 */

/** A prediction of the paper checked against this run's data. agrees: null when the data cannot tell. */
export interface Check { prediction: string; agrees: boolean | null; evidence: string }

export interface Figure { title: string; svg: string; caption: string; checks: Check[] }

export interface Table { id: string; title: string; columns: string[]; rows: (string | number)[][]; note?: string }

export interface Section {
  id: string;
  title: string;
  /** Where in the paper. */
  paper: string;
  /** What was run, one paragraph. */
  setup: string;
  figures: Figure[];
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

/** One-word verdict of a check. */
export function verdict(c: Check): string {
  return c.agrees === null ? 'cannot tell' : c.agrees ? 'agrees' : 'disagrees';
}

const CSS = `
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1160px; color: #222; line-height: 1.4; }
h1 { font-size: 24px; } h2 { font-size: 20px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 36px; }
.figure { display: flex; gap: 18px; align-items: flex-start; margin: 18px 0; flex-wrap: wrap; }
.figure svg { border: 1px solid #ddd; flex: none; }
.checks { flex: 1; min-width: 300px; font-size: 14px; }
.check { margin: 6px 0 12px; padding: 6px 10px; border-left: 4px solid #999; background: #f7f7f7; }
.check.yes { border-color: #2a9d4a; } .check.no { border-color: #c62828; } .check.unknown { border-color: #999; }
.verdict { font-weight: bold; } .yes .verdict { color: #1e7a38; } .no .verdict { color: #b71c1c; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
pre.command { white-space: pre-wrap; word-break: break-all; }
.summary td:nth-child(3), .summary th:nth-child(3) { text-align: left; }
.small { font-size: 12px; color: #555; }
`;

function renderCheck(c: Check): string {
  const cls = c.agrees === null ? 'unknown' : c.agrees ? 'yes' : 'no';
  return `<div class="check ${cls}"><div>Paper: ${esc(c.prediction)}</div><div><span class="verdict">This run: ${verdict(c)}</span> — `
    + `${esc(c.evidence)}</div></div>`;
}

function renderTable(section: Section, t: Table): string {
  const head = `<tr>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((v) => `<td>${esc(String(v))}</td>`).join('')}</tr>`).join('');
  const note = t.note ? `<p class="small">${esc(t.note)}</p>` : '';
  return `<h3>${esc(t.title)}</h3><table id="${esc(section.id)}-${esc(t.id)}">${head}${body}</table>${note}<p class="small">CSV: <a `
    + `href="${esc(csvName(section, t))}">${esc(csvName(section, t))}</a></p>`;
}

export function renderSection(s: Section): string {
  const figures = s.figures.map((f) => `<div class="figure">${f.svg}<div `
    + `class="checks"><h3>${esc(f.title)}</h3><p>${esc(f.caption)}</p>${f.checks.map(renderCheck).join('')}</div></div>`).join('');
  const configs = s.configs.map((c) => `<details><summary>${esc(c.name)}</summary><pre>${esc(JSON.stringify(c.config, null, 2))}</pre></details>`).join('');
  const notes = (s.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join('');
  return `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2><p class="small">${esc(s.paper)}</p><p>${esc(s.setup)}</p>`
    + figures + s.tables.map((t) => renderTable(s, t)).join('')
    + (notes ? `<h3>Notes</h3><ul>${notes}</ul>` : '')
    + `<h3>Command</h3><pre class="command">${esc(s.command)}</pre><h3>Run configs</h3>${configs}</section>`;
}

/** The whole page: title, a summary table of every check, then the sections. */
export function renderPage(o: { title: string; intro: string[]; sections: Section[] }): string {
  const checks = o.sections.flatMap((s) => s.figures.flatMap((f) => f.checks.map((c) => ({ s, f, c }))));
  const summary = checks.length === 0 ? '' : `<h2>Predictions at a glance</h2><table class="summary"><tr><th>experiment: `
    + `figure</th><th>verdict</th><th>paper's prediction</th></tr>${
    checks.map(({ s, f, c }) => `<tr><td><a href="#${esc(s.id)}">${esc(s.title)}</a>: `
      + `${esc(f.title)}</td><td>${verdict(c)}</td><td>${esc(c.prediction)}</td></tr>`).join('')}</table>`
    + `<p>${checks.filter((x) => x.c.agrees === true).length} of ${checks.length} checks agree with the paper, `
      + `${checks.filter((x) => x.c.agrees === false).length} disagree, ${checks.filter((x) => x.c.agrees === null).length} cannot be told from the data.</p>`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(o.title)}</title><style>${CSS}</style></head><body>`
    + `<h1>${esc(o.title)}</h1>${o.intro.map((p) => `<p>${esc(p)}</p>`).join('')}${summary}`
    + o.sections.map(renderSection).join('') + '</body></html>\n';
}

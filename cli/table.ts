/** Plain-text tables: columns of fixed width, printed all at once or row by row as results come. */
export interface Column {
  key: string;
  title: string;
  /** Turns a cell value into text; the default prints numbers with 4 significant digits. */
  format?: (v: unknown) => string;
  align?: 'left' | 'right';
  /** Minimum width (the title's length at least). */
  width?: number;
}

export function cell(v: unknown): string {
  if (v === undefined || v === null) return '-';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
  }
  return String(v);
}

export const fixed = (digits: number) => (v: unknown) => (typeof v === 'number' ? v.toFixed(digits) : cell(v));
export const percent = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : cell(v));

function pad(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

/** A whole table at once, columns as wide as their widest cell. */
export function formatTable(columns: Column[], rows: Record<string, unknown>[]): string {
  const texts = rows.map((r) => columns.map((c) => (c.format ?? cell)(r[c.key])));
  const widths = columns.map((c, i) => Math.max(c.width ?? 0, c.title.length, ...texts.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((t, i) => pad(t, widths[i], columns[i].align ?? (i === 0 ? 'left' : 'right'))).join('  ').trimEnd();
  return [line(columns.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...texts.map(line)].join('\n');
}

/** A table printed row by row (widths fixed up front from titles and `width`). */
export class TableStream {
  private readonly widths: number[];
  private started = false;
  constructor(private readonly columns: Column[], private readonly write: (line: string) => void) {
    this.widths = columns.map((c) => Math.max(c.width ?? 0, c.title.length));
  }
  private line(cells: string[]): string {
    return cells.map((t, i) => pad(t, this.widths[i], this.columns[i].align ?? (i === 0 ? 'left' : 'right'))).join('  ').trimEnd();
  }
  row(r: Record<string, unknown>): void {
    if (!this.started) {
      this.started = true;
      this.write(this.line(this.columns.map((c) => c.title)));
      this.write(this.line(this.widths.map((w) => '-'.repeat(w))));
    }
    this.write(this.line(this.columns.map((c) => (c.format ?? cell)(r[c.key]))));
  }
}

/** "1 epoch", "2 epochs". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

// The curves of any one run folder, as TensorBoard shows any log folder: loss and accuracy of every evaluated
// set, the learning rate and examples/s, from metrics.jsonl whichever command wrote it (cgh train's epoch and
// logged-step rows, or an experiment run's evaluation rows).
import fs from 'node:fs';
import path from 'node:path';
import { csvName, renderPage, tableCsv, type Section, type Table } from './html.js';
import { lineChart, PALETTE, type Series } from './svg.js';

export const RUN_REPORT_FILE = 'report.html';

/** A run folder whose files cannot be read as one; the message names the file and the fix. */
export class RunReportError extends Error {
  override name = 'RunReportError';
}

type Row = Record<string, unknown>;
type Curves = Map<string, [number, number][]>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Where a label's curve goes: the running (train-mode) metrics first, then the sets in the order met. */
function add(curves: Curves, label: string, x: number, y: number | null): void {
  if (y === null) return;
  if (!curves.has(label)) curves.set(label, []);
  curves.get(label)!.push([x, y]);
}

/** Every curve of the rows, by quantity (loss, accuracy, lr, examples/s) and set. */
export function runCurves(rows: Row[]): { loss: Curves; acc: Curves; lr: Curves; rate: Curves } {
  const loss: Curves = new Map(), acc: Curves = new Map(), lr: Curves = new Map(), rate: Curves = new Map();
  const firstEpoch = rows.find((r) => r.kind === 'epoch' && num(r.step) !== null && num(r.epoch)! > 0);
  const stepsPerEpoch = firstEpoch ? (firstEpoch.step as number) / (firstEpoch.epoch as number) : null;
  for (const r of rows) {
    if (r.kind === 'epoch') {
      const x = num(r.epoch);
      if (x === null) continue;
      for (const [key, v] of Object.entries(r)) {
        const m = /^(.+)_(loss|acc)$/.exec(key);
        if (!m) continue;
        const set = m[1] === 'run' ? 'training steps (epoch mean)' : m[1];
        add(m[2] === 'loss' ? loss : acc, set, x, num(v));
      }
      add(lr, 'learning rate', x, num(r.lr));
      add(rate, 'examples/s', x, num(r.examples_per_s));
    } else if (r.kind === 'eval' && typeof r.set === 'string') {
      const x = num(r.epoch);
      if (x === null) continue;
      add(loss, r.set, x, num(r.loss));
      add(acc, r.set, x, num(r.acc));
    } else if (r.kind === 'step') {
      const step = num(r.step);
      if (step === null) continue;
      const x = stepsPerEpoch ? step / stepsPerEpoch : step;
      add(loss, 'logged steps', x, num(r.loss));
      add(acc, 'logged steps', x, num(r.acc));
      add(lr, 'learning rate', x, num(r.lr));
    }
  }
  for (const c of [loss, acc, lr, rate]) for (const pts of c.values()) pts.sort((a, b) => a[0] - b[0]);
  return { loss, acc, lr, rate };
}

function series(curves: Curves, scale = 1): Series[] {
  return [...curves].map(([label, pts], i) => ({
    label,
    color: PALETTE[i % PALETTE.length],
    dash: /test/.test(label),
    points: pts.map(([x, y]) => [x, y * scale] as [number, number]),
  }));
}

/** The flags that give this config back, for the page's "command" box (cgh train folders only). */
function trainCommand(config: Row, dir: string): string {
  const derived = new Set(['command', 'trainExamples', 'testExamples', 'parameters', 'adapterReport', 'version']);
  const flags = Object.entries(config).filter(([k, v]) => !derived.has(k) && v !== undefined && v !== false).map(([k, v]) => {
    const flag = `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return v === true ? flag : `${flag} ${Array.isArray(v) ? v.join(',') : String(v)}`;
  });
  return ['cgh train', ...flags, '--out', dir].join(' ');
}

/** The report section of one run folder's config and metric rows. */
export function runCurvesSection(dir: string, config: Row, rows: Row[]): Section {
  const c = runCurves(rows);
  const x = 'epoch';
  const figures: Section['figures'] = [];
  const add = (title: string, yLabel: string, curves: typeof c.loss, caption: string, percent = false) => {
    if (!curves.size) return;
    const range = percent ? { yRange: [0, 100] as [number, number] } : {};
    const svg = lineChart({ title, xLabel: x, yLabel, series: series(curves, percent ? 100 : undefined), ...range });
    figures.push({ title, svg, caption, checks: [] });
  };
  const noisy = num(config.labelNoise) ?? num(config.noise);
  add('Loss', 'cross-entropy', c.loss, 'Cross-entropy of each evaluated set.');
  add('Accuracy', 'accuracy (%)', c.acc, noisy
    ? `Accuracy of each evaluated set; "train" is measured on the training labels, ${Math.round(noisy * 100)}% of which were randomised.`
    : 'Accuracy of each evaluated set.', true);
  add('Learning rate', 'learning rate', c.lr, 'The learning rate of each epoch.');
  add('Throughput', 'examples/s', c.rate,
    'Training examples per second of each epoch (evaluation excluded); the first epoch\'s includes compiling the shaders.');
  const epochs = rows.filter((r) => r.kind === 'epoch');
  const columns = [...new Set(epochs.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'kind');
  const table: Table = {
    id: 'epochs', title: 'Epochs', columns,
    rows: epochs.map((r) => columns.map((k) => {
      const v = r[k];
      return typeof v === 'number' ? Number(v.toPrecision(6)) : v === undefined ? '' : String(v);
    })),
  };
  const what = [config.model, config.dataset, config.rule, num(config.epochs) !== null ? `${config.epochs} epochs` : null].filter(Boolean).join(', ');
  return {
    id: 'run',
    title: path.basename(path.resolve(dir)),
    paper: '',
    setup: `${what}${epochs.length ? `; ${epochs.length} epoch rows so far` : '; no epoch finished yet'}.`,
    figures,
    tables: epochs.length ? [table] : [],
    command: config.command === 'train' ? trainCommand(config, dir) : `(written by ${String(config.experiment ?? config.command ?? 'an unknown command')})`,
    configs: [{ name: 'config.json', config }],
  };
}

/** Whether a folder is a single run: config.json beside metrics.jsonl. */
export function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json')) && fs.existsSync(path.join(dir, 'metrics.jsonl'));
}

/** Reads a run folder and writes its report.html (and the epochs CSV) beside it; returns the page's path. */
export function writeRunReport(dir: string): string {
  let config: Row;
  try {
    config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Row;
  } catch {
    throw new RunReportError(`${path.join(dir, 'config.json')} is not JSON; restore the file from a copy`);
  }
  const text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  // A torn last line (a kill mid-write) is not a row.
  const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '');
  const rows = lines.map((l, i) => {
    try {
      return JSON.parse(l) as Row;
    } catch {
      throw new RunReportError(`${path.join(dir, 'metrics.jsonl')} line ${i + 1} is not JSON; restore the file from a copy`);
    }
  });
  const section = runCurvesSection(dir, config, rows);
  for (const t of section.tables) writeAtomic(path.join(dir, csvName(section, t)), tableCsv(t));
  const file = path.join(dir, RUN_REPORT_FILE);
  writeAtomic(file, renderPage({ title: `Run ${section.title}`, intro: [`Curves of the run folder ${dir}.`], sections: [section] }));
  return file;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

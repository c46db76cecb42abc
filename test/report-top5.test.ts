// Top-5 in the report: every section that shows accuracy has a top-5 column (or table) for a dataset with more than five
// classes, read from synthetic experiment folders (experiment.json, config.json, metrics.jsonl), and none where
// top-5 is always 1 (five classes or fewer) or was never measured.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSections, writeReport } from '../experiments/report/index.js';
import type { Table } from '../experiments/report/html.js';

type TopFive = 'many classes' | 'few classes' | 'not measured';

/** Evaluation rows at epochs 0, 1, 2 of each set; the final top-5 of set k of the run is `final5 + k / 100`. */
function evalRows(sets: string[], final5: number, kind: TopFive): string {
  const rows: string[] = [];
  for (const epoch of [0, 1, 2]) {
    sets.forEach((set, k) => {
      const acc = 0.1 + 0.2 * epoch;
      const top5 = kind === 'few classes' ? 1 : epoch === 2 ? final5 + k / 100 : 0.5 + 0.1 * epoch;
      rows.push(JSON.stringify({ kind: 'eval', step: 10 * epoch, epoch, set, loss: 2 - epoch / 2, acc, ...(kind === 'not measured' ? {} : { top5 }), n: 100 }));
    });
  }
  return rows.join('\n') + '\n';
}

const SETTINGS = { dataset: 'imagefolder', dataDir: '/data/tiny', model: 'mlp', hidden: [8], batchSize: 10, lr: 0.1, momentum: 0.9, epochs: 2, seed: 1 };

/** An experiment folder whose runs each evaluate `sets`; run r's final top-5 on set k is 0.6 + r / 10 + k / 100. */
function experiment(root: string, experimentName: string, options: Record<string, unknown>, runs: string[], sets: string[], kind: TopFive): void {
  mkdirSync(root, { recursive: true });
  const spec = { experiment: experimentName, preset: 'none', settings: SETTINGS, options, command: 'cgh test' };
  writeFileSync(join(root, 'experiment.json'), JSON.stringify(spec));
  runs.forEach((run, r) => {
    const dir = join(root, run);
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...SETTINGS, experiment: experimentName, run, rule: 'sgd', groups: 1, winsor: 0, noise: 0,
      evalSets: [] }));
    writeFileSync(join(dir, 'metrics.jsonl'), evalRows(sets, 0.6 + r / 10, kind));
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ status: 'completed', steps: 20, stepsPerEpoch: 10, epochs: 2, final: {}, elapsed_s: 1 }));
  });
}

const EXPERIMENTS: { name: string; options: Record<string, unknown>; runs: string[]; sets: string[]; table: string; column: string;
  /** Which rows hold which top-5 text: [row index, cell text]. */ want: [number, string][] }[] = [
  { name: 'suppression', options: { rules: ['sgd', 'rm3'], noise: [0] }, runs: ['sgd-noise-0', 'rm3-noise-0'],
    sets: ['train-sample', 'test', 'pristine'], table: 'final', column: 'test top-5 (first seed)', want: [[0, '61.0%'], [1, '71.0%']] },
  { name: 'winsorize', options: { levels: [0, 2], noise: [0] }, runs: ['s0-noise-0', 's2-noise-0'], sets: ['train-sample', 'test'], table: 'final',
    column: 'final test top-5', want: [[0, '61.0%'], [1, '71.0%']] },
  { name: 'easy-hard', options: { threshold: 0.5 }, runs: ['easy', 'full', 'hard', 'threshold'], sets: ['train', 'e-test', 'h-test', 'test'],
    table: 'table', column: 'top-5: e-test / h-test / original test', want: [[0, '61.0% / 62.0% / 63.0%'], [1, '81.0% / 82.0% / 83.0%'],
      [2, 'n/a / n/a / 73.0%']] },
  { name: 'anti-adversarial', options: { goal: 0.9, target: 0.5 }, runs: ['noisy-from-pretrained', 'noisy-from-scratch', 'pretrain'], sets: ['train'],
    table: 'epochs', column: 'final training top-5', want: [[0, '60.0%'], [1, '70.0%']] },
  { name: 'difficulty', options: { repeats: 2, threshold: 0.5 }, runs: ['rm3', 'sgd'], sets: ['train', 'test'], table: 'final', column: 'test top-5',
    want: [[0, '61.0%'], [1, '71.0%']] },
];

function tableOf(dir: string, id: string): Table | undefined {
  const [section] = buildSections(dir);
  return section.tables.find((t) => t.id === id);
}

test('every section that shows accuracy shows the final top-5 of a dataset with more than five classes', () => {
  const root = mkdtempSync(join(tmpdir(), 'cgh-top5-'));
  try {
    for (const x of EXPERIMENTS) {
      const dir = join(root, x.name);
      experiment(dir, x.name, x.options, x.runs, x.sets, 'many classes');
      const t = tableOf(dir, x.table);
      if (!t) throw new Error(`${x.name}: no table ${x.table}`);
      const col = t.columns.indexOf(x.column);
      if (col < 0) throw new Error(`${x.name}: table ${x.table} has no column '${x.column}': ${t.columns.join(' | ')}`);
      for (const [row, text] of x.want) assert.is(String(t.rows[row][col]), text, `${x.name} row ${row}`);
    }
    // The page and its CSVs carry them too (here the folder of all five, as cgh reproduce writes).
    const html = readFileSync(writeReport(root), 'utf8');
    for (const x of EXPERIMENTS) if (!html.includes(x.column)) throw new Error(`report.html lacks ${x.name}'s '${x.column}'`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('no top-5 column where top-5 is always 1 (five classes or fewer) or the rows predate it', () => {
  const root = mkdtempSync(join(tmpdir(), 'cgh-top5-'));
  try {
    for (const kind of ['few classes', 'not measured'] as const) {
      for (const x of EXPERIMENTS) {
        const dir = join(root, `${x.name}-${kind.replace(' ', '-')}`);
        experiment(dir, x.name, x.options, x.runs, x.sets, kind);
        const [section] = buildSections(dir);
        const columns = section.tables.flatMap((t) => t.columns);
        if (columns.some((c) => /top-5/.test(c))) throw new Error(`${x.name}, ${kind}: a top-5 column among ${columns.join(' | ')}`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();

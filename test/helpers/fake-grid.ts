/**
 * A small stand-in for the experiments layer's grid functions, for testing the queue without a GPU. A
 * folder's grid.json lists the runs and their dependencies; a run takes `steps` steps of `stepMs` ms, each
 * appending one metrics row, with a checkpoint every third step and when asked to stop. Resuming drops
 * the rows after the checkpoint, as the real run folders do, so a killed and resumed run must end with
 * the rows of an uninterrupted one. A run's values depend on its dependencies' final values, so a run
 * started before its dependencies finished shows up in the report.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GridExecutor, GridPlan, GridRunOptions } from '../../experiments/queue/executor.js';
import { lockFolder, releaseFolder } from '../../experiments/files/folder-lock.js';

export interface FakeGrid {
  steps: number;
  stepMs: number;
  runs: { name: string; dependsOn: string[] }[];
  /** Runs that fail after their first step, every time. */
  failing?: string[];
}

export function writeFakeGrid(folder: string, grid: FakeGrid): void {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'grid.json'), JSON.stringify({ experiment: 'fake', ...grid }));
}

function readGrid(folder: string): FakeGrid & { experiment: string } {
  return JSON.parse(fs.readFileSync(path.join(folder, 'grid.json'), 'utf8'));
}

function writeAtomic(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function finalValue(folder: string, run: string): number | undefined {
  const f = path.join(folder, run, 'done.json');
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')).final : undefined;
}

function seed(text: string): number {
  let h = 7;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 2147483647;
  return h;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const fakeExecutor: GridExecutor = {
  async planGrid(folder: string): Promise<GridPlan> {
    const g = readGrid(folder);
    return { experiment: g.experiment, runs: g.runs };
  },

  async executeGridRun(folder: string, run: string, opts: GridRunOptions): Promise<void> {
    const g = readGrid(folder);
    const r = g.runs.find((x) => x.name === run);
    if (!r) throw new Error(`run ${run} is not in the grid`);
    const deps = r.dependsOn.map((d) => finalValue(folder, d));
    if (deps.some((v) => v === undefined)) throw new Error(`run ${run} depends on an unfinished run`);
    const dir = path.join(folder, run);
    fs.mkdirSync(dir, { recursive: true });
    // The run folder's lock, as the real runs take it.
    lockFolder(dir, 'run folder');
    try {
      await runSteps(g, run, dir, deps as number[], opts);
    } finally {
      releaseFolder(dir);
    }
  },

  /** A line per run, finished or not (as the real report covers whatever has finished). */
  async writeGridReport(folder: string): Promise<string> {
    const g = readGrid(folder);
    const lines = g.runs.map((r) => {
      const file = path.join(folder, r.name, 'metrics.jsonl');
      const rows = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
      return `${r.name} final ${finalValue(folder, r.name) ?? 'none'} rows ${rows}`;
    });
    const file = path.join(folder, 'report.txt');
    writeAtomic(file, lines.join('\n') + '\n');
    return file;
  },
};

async function runSteps(g: FakeGrid, run: string, dir: string, deps: number[], opts: GridRunOptions): Promise<void> {
  if (fs.existsSync(path.join(dir, 'done.json'))) return;
  if (opts.adapter) fs.appendFileSync(path.join(dir, 'adapters.txt'), `${opts.adapter}\n`);
  const ckptFile = path.join(dir, 'checkpoint.json');
  const rowsFile = path.join(dir, 'metrics.jsonl');
  const fresh = { step: 0, value: seed(run) + deps.reduce((s, v) => s! + v!, 0)! };
  let { step, value } = fs.existsSync(ckptFile) ? JSON.parse(fs.readFileSync(ckptFile, 'utf8')) : fresh;
  const kept = fs.existsSync(rowsFile) ? fs.readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).slice(0, step) : [];
  writeAtomic(rowsFile, kept.map((l) => `${l}\n`).join(''));
  if (step > 0) opts.log?.(`resuming after step ${step}`);
  const checkpoint = () => writeAtomic(ckptFile, JSON.stringify({ step, value }));
  while (step < g.steps) {
    if (opts.signal?.aborted) {
      checkpoint();
      throw new Error('stopped at a checkpoint');
    }
    await sleep(g.stepMs);
    step++;
    value = (value * 48271 + step) % 2147483647;
    fs.appendFileSync(rowsFile, JSON.stringify({ run, step, value }) + '\n');
    if (step % 3 === 0) checkpoint();
    opts.log?.(`step ${step}/${g.steps}`);
    if (g.failing?.includes(run)) throw new Error(`${run} failed on purpose after step ${step}`);
  }
  checkpoint();
  writeAtomic(path.join(dir, 'done.json'), JSON.stringify({ final: value }));
}

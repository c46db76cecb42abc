import fs from 'node:fs';
import path from 'node:path';
import { accuracyByDifficulty, DIFFICULTY_FILE, readDifficulty, type DifficultyRow } from '../protocols/difficulty.js';
import { splitText } from '../protocols/easy-hard.js';
import { readExamples } from '../run/grid-run.js';
import { finalOf, pct, showsTopFive, type LoadedExperiment, type LoadedRun } from './data.js';
import { configsOf, describeData } from './common.js';
import type { Section, Table } from './html.js';
import { difficultyVerdicts, type DifficultyRun } from '../verdicts/difficulty.js';
import type { Verdict } from '../verdicts/verdict.js';
import { unfinishedNote } from './conditions.js';
import { barChart } from './svg.js';
import { RULE_COLORS } from './suppression.js';

const PAPER_RM3 = [99.15, 97.82, 96.73, 95.69, 94.46, 92.85, 90.56, 86.61, 61.01];

function rowsFor(run: LoadedRun | undefined, difficulty: Int32Array | null, repeats: number): DifficultyRow[] | null {
  if (!run || !run.summary || !difficulty) return null;
  const file = path.join(run.dir, 'examples.safetensors');
  if (!fs.existsSync(file)) return null;
  return accuracyByDifficulty(difficulty, readExamples(file).correctAtLatest(), repeats);
}

/** Pearson correlation of difficulty and being learned, over examples (from the per-level counts). */
export function difficultyCorrelation(rows: DifficultyRow[]): number {
  let n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (const r of rows) {
    n += r.count; sx += r.difficulty * r.count; sy += r.correct;
    sxx += r.difficulty * r.difficulty * r.count; syy += r.correct; sxy += r.difficulty * r.correct;
  }
  const cov = sxy / n - (sx / n) * (sy / n);
  const vx = sxx / n - (sx / n) ** 2, vy = syy / n - (sy / n) ** 2;
  return vx > 0 && vy > 0 ? cov / Math.sqrt(vx * vy) : NaN;
}

/** Figure 5(a) of the paper from a difficulty experiment folder. */
export function difficultySection(e: LoadedExperiment): Section {
  const repeats = Number(e.spec.options.repeats);
  const file = path.join(e.root, DIFFICULTY_FILE);
  const difficulty = fs.existsSync(file) ? readDifficulty(file) : null;
  const rm3 = rowsFor(e.runs.get('rm3'), difficulty, repeats);
  const sgd = rowsFor(e.runs.get('sgd'), difficulty, repeats);
  const levels = Array.from({ length: repeats + 1 }, (_, d) => d);
  const populated = (rows: DifficultyRow[] | null) => (rows ?? []).filter((r) => r.count > 0);
  const asRun = (name: string, rows: DifficultyRow[] | null): DifficultyRun[] => {
    const r = e.runs.get(name);
    if (!r) return [];
    return [{ name, seed: r.config.seed, finished: r.summary !== null && rows !== null, levels: rows ?? [] }];
  };
  const checks: Verdict[] = [];
  if (rm3) {
    const pop = populated(rm3);
    const lo = pop[0], hi = pop[pop.length - 1];
    checks.push({
      id: 'difficulty-rm3-falls', kind: 'context',
      prediction: 'RM3\'s training accuracy falls as difficulty rises (paper: 99% at difficulty 0, 61% at 8).',
      rule: 'shown for context: difficulty is defined by not being learned early, so any rule learns hard examples less; not counted.',
      outcome: null, evidence: {},
      text: `RM3 training accuracy ${pct(lo?.accuracy)} at difficulty ${lo?.difficulty} vs ${pct(hi?.accuracy)} at ${hi?.difficulty}; correlation of `
        + `difficulty with being learned ${difficultyCorrelation(rm3).toFixed(3)}`,
    });
  }
  if (e.runs.has('sgd')) checks.push(...difficultyVerdicts(asRun('sgd', sgd), asRun('rm3', rm3)));
  const table = levels.map((d) => [d, rm3 ? rm3[d].count : 'n/a', rm3 ? pct(rm3[d].accuracy, 2) : 'n/a', sgd ? pct(sgd[d].accuracy, 2) : 'n/a',
    repeats === 8 ? `${PAPER_RM3[d].toFixed(2)}%` : '']);
  return {
    id: 'difficulty',
    title: 'Difficulty and suppression of weak directions',
    paper: 'Paper: Section 4.3 and Figure 5(a).',
    setup: `The easy/hard classification (SGD until ${pct(Number(e.spec.options.threshold), 0)} training accuracy; easy: `
      + `${splitText(e.spec.options.split)}) was repeated ${repeats} times with different seeds; an example's difficulty is the number of times it was `
      + `hard. RM3 (momentum 0) then trained on the whole training set${sgd ? ', and SGD with the same settings beside it' : ''}: `
      + `${describeData(e.runs.get('rm3'))}.`,
    figures: [{
      title: 'Training accuracy by difficulty',
      caption: 'Final training accuracy of the examples at each difficulty level (0: always easy, R: always hard).',
      svg: barChart({
        title: 'Final training accuracy per difficulty level', xLabel: 'difficulty (times classified hard)', yLabel: 'training accuracy (%)', yRange: [0, 100],
        groups: levels.map((d) => ({ label: String(d), values: [
          ...(rm3 ? [{ series: 'RM3', value: rm3[d].accuracy * 100, color: RULE_COLORS.rm3 }] : []),
          ...(sgd ? [{ series: 'SGD', value: sgd[d].accuracy * 100, color: RULE_COLORS.sgd }] : []),
        ] })),
      }),
      checks,
    }],
    tables: [{
      id: 'levels',
      title: 'Difficulty, RM3 accuracy and count',
      columns: ['difficulty', 'count', 'RM3 accuracy', 'SGD accuracy', 'paper RM3 accuracy (ImageNet)'],
      rows: table,
    }, ...finalTable(e)],
    notes: unfinishedNote(e),
    command: e.spec.command,
    configs: configsOf(e),
  };
}

/**
 * Each run's final top-1 and top-5 accuracy on the whole training set and the test set, where top-5 says something
 * (more than five classes); the per-example records behind the levels hold top-1 only.
 */
function finalTable(e: LoadedExperiment): Table[] {
  const runs = ['rm3', 'sgd'].filter((n) => e.runs.has(n)).map((n) => e.runs.get(n)!);
  if (!showsTopFive(runs)) return [];
  return [{
    id: 'final',
    title: 'Final accuracy of each run, top-1 and top-5',
    columns: ['run', 'train acc', 'train top-5', 'test acc', 'test top-5'],
    rows: runs.map((r) => [r.name.toUpperCase(), pct(finalOf(r, 'train')), pct(finalOf(r, 'train', 'top5')), pct(finalOf(r, 'test')),
      pct(finalOf(r, 'test', 'top5'))]),
  }];
}

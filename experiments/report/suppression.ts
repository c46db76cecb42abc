import { noiseRunName } from '../protocols/label-noise.js';
import { suppressionVerdicts } from '../verdicts/suppression.js';
import { accuracyOf, showEstimate } from '../verdicts/verdict.js';
import { finalOf, pct, showsTopFive, type LoadedExperiment, type LoadedRun } from './data.js';
import { noiseLabel } from './checks.js';
import { configsOf, deadText, describeData, statusText } from './common.js';
import type { PanelGrid, Section } from './html.js';
import { lineChart, type Series } from './svg.js';
import { condition, conditionRuns, meanCurve, recordOf, unfinishedNote } from './conditions.js';

export const RULE_COLORS: Record<string, string> = { sgd: '#222222', ra3: '#ff7f0e', rm3: '#1f77b4', m3: '#2ca02c' };

/** Final training-sample accuracy minus final test accuracy. */
export function gapOf(run: LoadedRun | undefined): number {
  return finalOf(run, 'train-sample') - finalOf(run, 'test');
}

/**
 * Figures 2 and 3 of the paper from a suppression experiment folder, as the paper's grids: each rule against
 * SGD in its own cell, one row per noise level; means over seeds with bands from their spread.
 */
export function suppressionSection(e: LoadedExperiment): Section {
  const rules = (e.spec.options.rules as string[]) ?? [];
  const levels = (e.spec.options.noise as number[]) ?? [];
  const name = (rule: string, p: number) => noiseRunName(p, `${rule}-`);
  const runs = (rule: string, p: number) => conditionRuns(e, name(rule, p));
  const others = rules.filter((r) => r !== 'sgd');
  const columns = Math.max(1, others.length);
  const epochs = Number(e.spec.settings.epochs) || 1;
  const seeds = Math.max(1, ...levels.flatMap((p) => rules.map((r) => runs(r, p).length)));
  const cell = (p: number, r: string, sets: [string, string], what: string) => {
    const series: Series[] = [...new Set(['sgd', r])].filter((x) => rules.includes(x)).flatMap((x) => [
      { label: `${x.toUpperCase()} ${sets[0]}`, color: RULE_COLORS[x] ?? '#888', ...meanCurve(runs(x, p), sets[0], 'acc') },
      { label: `${x.toUpperCase()} ${sets[1]}`, color: RULE_COLORS[x] ?? '#888', dash: true, ...meanCurve(runs(x, p), sets[1], 'acc') },
    ]);
    return {
      title: `${r.toUpperCase()} vs SGD, ${noiseLabel(p)} noise`,
      svg: lineChart({ title: `${r.toUpperCase()} vs SGD, ${noiseLabel(p)} noise: ${what}`, xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100],
        width: 360, height: 240, series }),
    };
  };
  const verdicts = levels.map((p) => suppressionVerdicts(p, {
    sgd: condition(e, name('sgd', p)), ra3: condition(e, name('ra3', p)), rm3: condition(e, name('rm3', p)), m3: condition(e, name('m3', p)),
  }, epochs).filter((v) => rulesPresent(v.id, rules)));
  const cellsOf = (ps: number[], sets: [string, string], what: string) =>
    ps.flatMap((p) => (others.length ? others : ['sgd']).map((r) => cell(p, r, sets, what)));
  const noisy = levels.filter((p) => p > 0 && p < 1);
  const grids: PanelGrid[] = [{
    title: 'Figure 2: train (solid) and test (dashed) accuracy, each rule against SGD, one row per noise level',
    caption: `Lines are means over ${seeds} seed${seeds > 1 ? 's' : ''}; bands span the seeds. Accuracy on the labels trained on.`,
    columns, panels: cellsOf(levels, ['train-sample', 'test'], 'train, test'), checks: levels.flatMap((p, i) => (p === 0 || p === 1 ? verdicts[i] : [])),
  }];
  if (noisy.length) {
    grids.push({
      title: 'Figure 3: pristine (solid) and corrupt (dashed) accuracy, each rule against SGD',
      caption: 'Corrupt accuracy is accuracy on the noisy labels, i.e. memorisation.',
      columns, panels: cellsOf(noisy, ['pristine', 'corrupt'], 'pristine, corrupt'), checks: levels.flatMap((p, i) => (p > 0 && p < 1 ? verdicts[i] : [])),
    });
  }
  const est = (g: LoadedRun[], set: string) => (g.length && g.some((r) => r.rows.length) ? showEstimate(accuracyOf(g.map(recordOf), set)) : 'n/a');
  const first = runs(rules[0], levels[0])[0];
  const top5 = showsTopFive(e.runs.values());
  return {
    id: 'suppression',
    title: 'Suppressing weak gradient directions: SGD, RA3, RM3, M3',
    paper: 'Paper: Section 3.3, Figures 2 and 3; schematically SGD ≈ RA3 ≪ RM3 < M3 in suppressing weak directions.',
    setup: `${rules.map((r) => r.toUpperCase()).join(', ')} on ${describeData(first)} at ${levels.map(noiseLabel).join(', ')} label noise, ${seeds} seed`
      + `${seeds > 1 ? 's' : ''} each. M3 splits each batch into 3 groups (batch rounded up to a multiple of 3, as the paper's 264 for 256). `
      + 'Memorisation is compared by its speed: the memorised set\'s accuracy averaged over the run.',
    figures: [],
    grids,
    tables: [{
      id: 'final',
      title: 'Final accuracies (mean ± standard error over seeds, last evaluations)',
      columns: ['rule', 'noise', 'seeds', 'batch', 'train acc', 'test acc', 'pristine acc', 'corrupt acc', ...(top5 ? ['test top-5 (first seed)'] : []),
        'dead units (first seed)', 'status (first seed)'],
      rows: levels.flatMap((p) => rules.map((r) => {
        const g = runs(r, p);
        return [r.toUpperCase(), noiseLabel(p), g.length, g[0]?.config.batchSize ?? 'n/a', est(g, 'train-sample'), est(g, 'test'), est(g, 'pristine'),
          p > 0 && p < 1 ? est(g, 'corrupt') : 'n/a', ...(top5 ? [pct(finalOf(g[0], 'test', 'top5'))] : []), deadText(g[0]), statusText(g[0])];
      })),
    }],
    notes: unfinishedNote(e),
    command: e.spec.command,
    configs: configsOf(e),
  };
}

/** Whether the rules a verdict compares were part of the experiment (e.g. --rules sgd,rm3 has no RA3 verdict). */
function rulesPresent(id: string, rules: string[]): boolean {
  const needs = id.includes('-ra3-') ? ['sgd', 'ra3', 'rm3'] : id.includes('-m3-') ? ['sgd', 'rm3', 'm3'] : ['sgd', 'rm3'];
  return needs.every((r) => rules.includes(r));
}

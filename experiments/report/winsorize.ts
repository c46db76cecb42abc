import { noiseRunName } from '../protocols/label-noise.js';
import { winsorizeVerdicts } from '../verdicts/winsorize.js';
import { finalOf, pct, showsTopFive, type LoadedExperiment } from './data.js';
import { noiseLabel } from './checks.js';
import { configsOf, deadText, describeData, statusText } from './common.js';
import type { PanelGrid, Section } from './html.js';
import { gapOf } from './suppression.js';
import { lineChart } from './svg.js';
import { condition, conditionRuns, meanCurve, unfinishedNote } from './conditions.js';

/**
 * Appendix B, Figure 8 of the paper from a winsorize experiment folder, laid out as the paper's grid: one row
 * per noise level, one column per s, train and test accuracy in each cell.
 */
export function winsorizeSection(e: LoadedExperiment): Section {
  const levels = [...((e.spec.options.levels as number[]) ?? [])].sort((a, b) => a - b);
  const noise = (e.spec.options.noise as number[]) ?? [];
  const name = (s: number, p: number) => noiseRunName(p, `s${s}-`);
  const epochs = Number(e.spec.settings.epochs) || 1;
  const cifar = /cifar/i.test(String(e.spec.settings.dataset));
  const panels = noise.flatMap((p) => levels.map((s) => {
    const runs = conditionRuns(e, name(s, p));
    return {
      title: `${noiseLabel(p)} noise, s = ${s}`,
      svg: lineChart({
        title: `s = ${s}, ${noiseLabel(p)} noise`, xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], width: 360, height: 240,
        series: [
          { label: 'train', color: '#1f77b4', ...meanCurve(runs, 'train-sample', 'acc') },
          { label: 'test', color: '#d62728', dash: true, ...meanCurve(runs, 'test', 'acc') },
        ],
      }),
    };
  }));
  const checks = noise.flatMap((p) => winsorizeVerdicts(p, levels.map((s) => ({ s, runs: condition(e, name(s, p)) })), { cleanGapClaimed: cifar, epochs }));
  const grid: PanelGrid = {
    title: 'Figure 8: train (solid) and test (dashed) accuracy, one row per noise level, one column per s',
    caption: 's is the number of examples clipped per side of every coordinate of the batch\'s per-example gradients.',
    columns: levels.length, panels, checks,
  };
  const first = conditionRuns(e, name(levels[0], noise[0]))[0];
  const top5 = showsTopFive(e.runs.values());
  return {
    id: 'winsorize',
    title: 'Winsorized gradients',
    paper: 'Paper: Appendix B, Figure 8 (ResNet-32 on CIFAR-10, batch 32, s = 0, 2, 4); the Coherent Gradients paper (ICLR 2020) on MNIST '
      + 'with label noise.',
    setup: `Per-example gradients clipped coordinate-wise to the (s+1)-th smallest and largest of the batch, then summed; ${describeData(first)}; s = `
      + `${levels.join(', ')}; noise ${noise.map(noiseLabel).join(', ')}.${cifar ? '' : ' On MNIST the paper does not claim a smaller gap without '
      + 'noise, so that check is context.'}`,
    figures: [],
    grids: [grid],
    tables: [{
      id: 'final',
      title: 'Final accuracies',
      columns: ['noise', 's', 'final train acc', 'final test acc', ...(top5 ? ['final test top-5'] : []), 'gap (train − test)', 'dead units', 'status'],
      rows: noise.flatMap((p) => levels.map((s) => {
        const r = conditionRuns(e, name(s, p))[0];
        return [noiseLabel(p), s, pct(finalOf(r, 'train-sample')), pct(finalOf(r, 'test')), ...(top5 ? [pct(finalOf(r, 'test', 'top5'))] : []),
          `${(gapOf(r) * 100).toFixed(1)} pts`, deadText(r), statusText(r)];
      })),
    }],
    notes: unfinishedNote(e),
    command: e.spec.command,
    configs: configsOf(e),
  };
}

import { noiseRunName } from '../protocols/label-noise.js';
import { labelNoiseVerdicts } from '../verdicts/label-noise.js';
import { accuracyOf, showEstimate } from '../verdicts/verdict.js';
import { epochsTrained, finalOf, pct, type LoadedExperiment, type LoadedRun } from './data.js';
import { noiseLabel } from './checks.js';
import type { Section } from './html.js';
import { lineChart, type Series } from './svg.js';
import { orderedColors } from './ordered-palette.js';
import { conditionRuns, condition, meanCurve, recordOf, unfinishedNote } from './conditions.js';
import { configsOf, deadText, describeData } from './common.js';

/** Figure 1 of the paper (Section 2, Appendix A) from a label-noise experiment folder: means over seeds, bands from their spread. */
export function labelNoiseSection(e: LoadedExperiment): Section {
  const levels = (e.spec.options.noise as number[]) ?? [];
  const groups = levels.map((p) => conditionRuns(e, noiseRunName(p)));
  const seeds = Math.max(1, ...groups.map((g) => g.length));
  const budget = Number(e.spec.settings.epochs) || Math.max(1, ...groups.flat().map(epochsTrained));
  const colors = orderedColors(levels.length);
  const names = levels.map(noiseLabel);
  const series = (set: string, field: 'acc' | 'loss', dash: boolean, prefix: string) =>
    levels.map((p, i): Series => ({ label: `${prefix}, ${names[i]} noise`, color: colors[i], dash, ...meanCurve(groups[i], set, field) }));
  // Speeds are compared over the first quarter of the run, where the levels differ most.
  const window = Math.max(1, Math.round(budget / 4));
  const verdicts = labelNoiseVerdicts(levels.map((p) => ({ noise: p, runs: condition(e, noiseRunName(p)) })), window);
  const pick = (...ids: string[]) => verdicts.filter((v) => ids.includes(v.id));
  const chart = (title: string, yLabel: string, s: Series[], acc: boolean) =>
    lineChart({ title, xLabel: 'epoch (log scale)', yLabel, series: s, logX: true, ...(acc ? { yRange: [0, 100] as [number, number] } : {}) });
  const pc = (field: 'acc' | 'loss') => [...series('pristine', field, false, 'pristine'), ...series('corrupt', field, true, 'corrupt')];
  const first = groups.find((g) => g.length > 0)?.[0];
  const est = (g: LoadedRun[], set: string) => (g.length ? showEstimate(accuracyOf(g.map(recordOf), set)) : 'n/a');
  return {
    id: 'label-noise',
    title: 'Label noise: pristine and corrupt examples',
    paper: 'Paper: Section 2 and Figure 1 (ResNet-18), Appendix A Figures 6 and 7 (Inception-V3, VGG-13).',
    setup: `SGD on ${describeData(first)} with ${names.join(', ')} of the training labels replaced by uniformly drawn ones, ${seeds} seed`
      + `${seeds > 1 ? 's' : ''} per level (lines: the mean; bands: lowest to highest seed). Accuracy is against the labels trained on (noisy for `
      + 'corrupt examples); the test set is never noisy. Colours run from dark (no noise) to light (all noise).',
    figures: [
      { title: '(a) Training and test accuracy', caption: 'Solid: training sample (noisy labels); dashed: test set.',
        svg: chart('Train (solid) and test (dashed) accuracy', 'accuracy (%)', [...series('train-sample', 'acc', false, 'train'),
          ...series('test', 'acc', true, 'test')], true), checks: pick('label-noise-train-speed', 'label-noise-overfitting') },
      { title: '(b) Training loss', caption: 'Mean cross-entropy on the training sample, against the noisy labels.',
        svg: chart('Training loss', 'cross-entropy loss (nats)', series('train-sample', 'loss', false, 'train'), false), checks: pick('label-noise-loss') },
      { title: '(c) Pristine and corrupt accuracy',
        caption: 'Solid: pristine sample; dashed: corrupt sample (accuracy on the noisy labels, i.e. memorisation).',
        svg: chart('Pristine (solid) and corrupt (dashed) accuracy', 'accuracy (%)', pc('acc'), true),
        checks: pick('label-noise-pristine-speed', 'label-noise-pristine-first') },
      { title: '(d) Pristine and corrupt loss', caption: 'Solid: pristine sample; dashed: corrupt sample.',
        svg: chart('Pristine (solid) and corrupt (dashed) loss', 'cross-entropy loss (nats)', pc('loss'), false), checks: pick('label-noise-corrupt-speed') },
    ],
    tables: [{
      id: 'summary',
      title: 'Per noise level (over the last evaluations, mean ± standard error over seeds)',
      columns: ['noise', 'seeds', 'finished', 'train acc', 'test acc', 'pristine acc', 'corrupt acc', 'test top-5 (first seed)', 'dead units (first seed)'],
      rows: levels.map((p, i) => [names[i], groups[i].length, groups[i].filter((r) => r.summary).length, est(groups[i], 'train-sample'),
        est(groups[i], 'test'), est(groups[i], 'pristine'), levels[i] > 0 ? est(groups[i], 'corrupt') : 'n/a',
          pct(finalOf(groups[i][0], 'test', 'top5')), deadText(groups[i][0])]),
      note: `Speeds in the verdicts are accuracies averaged over the first ${window} epochs. An example is corrupt only if its label changed `
        + `(expected fraction p(1 - 1/K)); memorised means at least ${pct(0.9, 0)} accuracy on the noisy labels.`,
    }],
    notes: unfinishedNote(e),
    command: e.spec.command,
    configs: configsOf(e),
  };
}


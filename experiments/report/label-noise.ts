import { noiseRunName } from '../protocols/label-noise.js';
import { curve, epochsTrained, finalOf, peakOf, pct, evals, type LoadedExperiment, type LoadedRun } from './data.js';
import { compareSpeed, increases, listing, noiseLabel, slowsDown, speed, speedText } from './checks.js';
import type { Check, Section } from './html.js';
import { lineChart, PALETTE, type Series } from './svg.js';
import { configsOf, describeData } from './common.js';

/** Figure 1 of the paper (Section 2, Appendix A) from a label-noise experiment folder. */
export function labelNoiseSection(e: LoadedExperiment): Section {
  const levels = (e.spec.options.noise as number[]) ?? [];
  const runs = levels.map((p) => e.runs.get(noiseRunName(p)));
  const GOAL = 0.9;
  const budget = Math.max(0, ...runs.map(epochsTrained));
  const colors = levels.map((_, i) => PALETTE[i % PALETTE.length]);
  const series = (set: string, field: 'acc' | 'loss', dash: boolean, prefix: string) =>
    levels.map((p, i): Series => ({ label: `${prefix}, ${noiseLabel(p)} noise`, color: colors[i], dash, points: curve(runs[i], set, field) }));
  const names = levels.map(noiseLabel);

  // (a) speed of fitting the (noisy) training labels, and benign vs malignant overfitting.
  const trainSpeeds = runs.map((r) => speed(r, 'train-sample', GOAL));
  const drops = runs.map((r) => peakOf(r, 'test') - finalOf(r, 'test'));
  const noisyIdx = levels.map((p, i) => (p > 0 && p < 1 ? i : -1)).filter((i) => i >= 0);
  const zeroIdx = levels.indexOf(0);
  const checksA: Check[] = [{
    prediction: 'As the label noise increases, the rate at which examples are learned decreases.',
    agrees: runs.length >= 2 ? slowsDown(trainSpeeds) : null,
    evidence: `epochs until the training sample reaches ${pct(GOAL, 0)} accuracy on its (noisy) labels: `
      + `${listing(names, trainSpeeds, (s) => speedText(s, budget))}`,
  }, {
    prediction: 'Overfitting is benign without noise (test accuracy rises, then stays flat) and malignant with noise (it peaks, then falls), falling '
      + 'further with more noise.',
    agrees: zeroIdx >= 0 && noisyIdx.length > 0 ? noisyIdx.every((i) => drops[i] > drops[zeroIdx]) && increases([zeroIdx,
      ...noisyIdx].map((i) => drops[i])) : null,
    evidence: `test accuracy lost from its peak by the end: ${listing(names, drops, (d) => `${(d * 100).toFixed(1)} points`)} (100% noise has no signal to `
      + `lose and is left out of the comparison)`,
  }];

  // (b) training loss.
  const firstEpochLoss = runs.map((r) => evals(r, 'train-sample').find((x) => x.epoch >= 1)?.loss ?? NaN);
  const checksB: Check[] = [{
    prediction: 'With more noise the training loss falls more slowly.',
    agrees: runs.length >= 2 ? increases(firstEpochLoss) : null,
    evidence: `training-sample loss after the first epoch: ${listing(names, firstEpochLoss, (v) => v.toFixed(3))}`,
  }];

  // (c), (d) pristine vs corrupt.
  const withBoth = levels.map((p, i) => i).filter((i) => evals(runs[i], 'pristine').length > 0 && evals(runs[i], 'corrupt').length > 0);
  const mixed = withBoth.filter((i) => levels[i] < 1);
  const pr = runs.map((r) => speed(r, 'pristine', GOAL));
  const co = runs.map((r) => speed(r, 'corrupt', GOAL));
  const noisyLevels = levels.map((p, i) => i).filter((i) => levels[i] > 0);
  const pristineLevels = levels.map((p, i) => i).filter((i) => evals(runs[i], 'pristine').length > 0);
  const checksC: Check[] = [{
    prediction: 'Pristine examples (label unchanged) are learned faster than corrupt ones.',
    agrees: mixed.length > 0 ? mixed.every((i) => compareSpeed(pr[i], co[i]) < 0) : null,
    evidence: `epochs to ${pct(GOAL, 0)}, pristine vs corrupt: `
      + withBoth.map((i) => `${names[i]}: ${speedText(pr[i], budget)} vs ${speedText(co[i], budget)}`).join('; ')
      + (withBoth.some((i) => levels[i] === 1) ? ' (the verdict covers the mixed levels below 100%, where pristine examples share a signal)' : ''),
  }, {
    prediction: 'With increasing noise (fewer pristine examples), pristine examples are learned more slowly.',
    agrees: pristineLevels.length >= 2 ? slowsDown(pristineLevels.map((i) => pr[i])) : null,
    evidence: `epochs until pristine examples reach ${pct(GOAL, 0)}: `
      + `${listing(pristineLevels.map((i) => names[i]), pristineLevels.map((i) => pr[i]), (s) => speedText(s, budget))}`,
  }];
  const checksD: Check[] = [{
    prediction: 'Observed in the paper (Figure 1d, the motivation for anti-adversarial initialisation): corrupt examples are also learned more slowly as '
      + 'the noise increases.',
    agrees: noisyLevels.length >= 2 ? slowsDown(noisyLevels.map((i) => co[i])) : null,
    evidence: `epochs until corrupt examples reach ${pct(GOAL, 0)}: `
      + `${listing(noisyLevels.map((i) => names[i]), noisyLevels.map((i) => co[i]), (s) => speedText(s, budget))}`,
  }];

  const pc = (field: 'acc' | 'loss') => [...series('pristine', field, false, 'pristine'), ...series('corrupt', field, true, 'corrupt')];
  return {
    id: 'label-noise',
    title: 'Label noise: pristine and corrupt examples',
    paper: 'Paper: Section 2 and Figure 1 (ResNet-18), Appendix A Figures 6 and 7 (Inception-V3, VGG-13).',
    setup: `SGD on ${describeData(runs[0])} with ${names.join(', ')} of the training labels replaced by uniformly drawn ones. Accuracy is measured against `
      + `the labels trained on (noisy for corrupt examples); the test set is never noisy.`,
    figures: [
      { title: '(a) Training and test accuracy', caption: 'Solid: training sample (noisy labels); dashed: test set. One colour per noise '
        + 'level.', svg: lineChart({ title: 'Train (solid) and test (dashed) '
          + 'accuracy', xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series: [...series('train-sample', 'acc', false, 'train'),
            ...series('test', 'acc', true, 'test')] }), checks: checksA },
      { title: '(b) Training loss', caption: 'Mean cross-entropy on the training sample, against the noisy '
        + 'labels.', svg: lineChart({ title: 'Training loss', xLabel: 'epoch', yLabel: 'cross-entropy loss (nats)', series: series('train-sample', 'loss',
          false, 'train') }), checks: checksB },
      { title: '(c) Pristine and corrupt accuracy', caption: 'Solid: pristine sample; dashed: corrupt sample (accuracy on the noisy labels, i.e. '
        + 'memorisation).', svg: lineChart({ title: 'Pristine (solid) and corrupt (dashed) '
          + 'accuracy', xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series: pc('acc'), hline: { y: GOAL * 100,
            label: `${pct(GOAL, 0)} goal` } }), checks: checksC },
      { title: '(d) Pristine and corrupt loss', caption: 'Solid: pristine sample; dashed: corrupt '
        + 'sample.', svg: lineChart({ title: 'Pristine (solid) and corrupt '
          + '(dashed) loss', xLabel: 'epoch', yLabel: 'cross-entropy loss (nats)', series: pc('loss') }), checks: checksD },
    ],
    tables: [{
      id: 'summary',
      title: 'Per noise level',
      columns: ['noise', 'corrupt fraction', 'final train acc', 'peak test acc', 'final test acc', `epochs to ${pct(GOAL, 0)} train`,
        `epochs to ${pct(GOAL, 0)} pristine`, `epochs to ${pct(GOAL, 0)} corrupt`, 'final pristine acc', 'final corrupt acc', 'final test top-5',
        'final pristine top-5'],
      rows: levels.map((p, i) => [names[i], corruptFraction(runs[i]), pct(finalOf(runs[i], 'train-sample')), pct(peakOf(runs[i], 'test')),
        pct(finalOf(runs[i], 'test')),
        speedText(trainSpeeds[i], budget), has(runs[i], 'pristine') ? speedText(pr[i], budget) : 'n/a', has(runs[i], 'corrupt') ? speedText(co[i],
          budget) : 'n/a',
        pct(finalOf(runs[i], 'pristine')), pct(finalOf(runs[i], 'corrupt')), pct(finalOf(runs[i], 'test', 'top5')),
        pct(finalOf(runs[i], 'pristine', 'top5'))]),
      note: 'Corrupt fraction: of the evaluated pristine + corrupt samples as drawn (the expected fraction of the training set is p(1 - 1/K)).',
    }],
    command: e.spec.command,
    configs: configsOf(e),
  };
}

function has(run: LoadedRun | undefined, set: string): boolean {
  return evals(run, set).length > 0;
}

function corruptFraction(run: LoadedRun | undefined): string {
  const t = evals(run, 'train');
  if (!run || t.length === 0) return 'n/a';
  const c = evals(run, 'corrupt')[0]?.n ?? 0;
  const p = evals(run, 'pristine')[0]?.n ?? 0;
  return c + p > 0 ? pct(c / (c + p)) : 'n/a';
}

import { noiseRunName } from '../protocols/label-noise.js';
import { curve, finalOf, pct, type LoadedExperiment } from './data.js';
import { noiseLabel } from './checks.js';
import { configsOf, describeData } from './common.js';
import type { Check, Figure, Section } from './html.js';
import { gapOf } from './suppression.js';
import { lineChart, PALETTE, type Series } from './svg.js';

/** Appendix B, Figure 8 of the paper from a winsorize experiment folder. */
export function winsorizeSection(e: LoadedExperiment): Section {
  const levels = (e.spec.options.levels as number[]) ?? [];
  const noise = (e.spec.options.noise as number[]) ?? [];
  const run = (s: number, p: number) => e.runs.get(noiseRunName(p, `s${s}-`));
  const sorted = [...levels].sort((a, b) => a - b);
  const figures: Figure[] = noise.map((p) => {
    const series: Series[] = sorted.flatMap((s, i) => [
      { label: `s=${s} train`, color: PALETTE[i % PALETTE.length], points: curve(run(s, p), 'train-sample', 'acc') },
      { label: `s=${s} test`, color: PALETTE[i % PALETTE.length], dash: true, points: curve(run(s, p), 'test', 'acc') },
    ]);
    const gaps = sorted.map((s) => gapOf(run(s, p)));
    const trains = sorted.map((s) => finalOf(run(s, p), 'train-sample'));
    const tests = sorted.map((s) => finalOf(run(s, p), 'test'));
    const checks: Check[] = [{
      prediction: 'As the winsorization level s increases (more weak directions suppressed), the gap between train and test accuracy decreases.',
      agrees: gaps.length >= 2 && gaps.every(Number.isFinite) ? gaps.every((g, i) => i === 0 || g < gaps[i - 1]) : null,
      evidence: `final train − test accuracy: ${sorted.map((s, i) => `s=${s}: ${(gaps[i] * 100).toFixed(1)} pts`).join(', ')}`,
    }];
    const s0 = sorted.indexOf(0);
    if (p === 1 && s0 >= 0 && sorted.length > 1) {
      const others = sorted.map((s, i) => i).filter((i) => i !== s0);
      checks.push({
        prediction: 'With 100% label noise SGD (s=0) memorises the training set, while s ≥ 2 fails to learn it (read here: final training accuracy below '
          + 'half of s=0\'s).',
        agrees: trains.every(Number.isFinite) ? others.every((i) => trains[i] < trains[s0] / 2) : null,
        evidence: `final training accuracy: ${sorted.map((s, i) => `s=${s}: ${pct(trains[i])}`).join(', ')}`,
      });
    }
    if (p === 0 && s0 >= 0 && sorted.length > 1) {
      const smallest = sorted.map((s, i) => i).find((i) => i !== s0)!;
      checks.push({
        prediction: 'For small winsorization levels the test accuracy on real labels does not change significantly (read here: within 2 points of s=0).',
        agrees: Number.isFinite(tests[smallest]) && Number.isFinite(tests[s0]) ? Math.abs(tests[smallest] - tests[s0]) <= 0.02 : null,
        evidence: `final test accuracy: ${sorted.map((s, i) => `s=${s}: ${pct(tests[i])}`).join(', ')}`,
      });
    }
    return {
      title: `${noiseLabel(p)} label noise`,
      caption: 'Solid: training sample (labels trained on); dashed: test set. One colour per winsorization level s (examples clipped per side of each '
        + 'coordinate).',
      svg: lineChart({ title: `Winsorization at ${noiseLabel(p)} noise: train (solid), test `
        + `(dashed)`, xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series }),
      checks,
    };
  });
  const first = run(sorted[0], noise[0]);
  return {
    id: 'winsorize',
    title: 'Winsorized gradients',
    paper: 'Paper: Appendix B, Figure 8 (ResNet-32 on CIFAR-10, batch 32, s = 0, 2, 4).',
    setup: `Per-example gradients clipped coordinate-wise to the (s+1)-th smallest and largest of the batch, then summed; ${describeData(first)}; s = `
      + `${sorted.join(', ')}; noise ${noise.map(noiseLabel).join(', ')}.`,
    figures,
    tables: [{
      id: 'final',
      title: 'Final accuracies',
      columns: ['noise', 's', 'final train acc', 'final test acc', 'gap (train − test)', 'status'],
      rows: noise.flatMap((p) => sorted.map((s) => {
        const r = run(s, p);
        return [noiseLabel(p), s, pct(finalOf(r, 'train-sample')), pct(finalOf(r, 'test')), `${(gapOf(r) * 100).toFixed(1)} pts`,
          r?.summary?.status ?? (r ? 'unfinished' : 'missing')];
      })),
    }],
    command: e.spec.command,
    configs: configsOf(e),
  };
}

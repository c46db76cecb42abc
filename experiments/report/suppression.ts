import { noiseRunName } from '../protocols/label-noise.js';
import { curve, evals, finalOf, pct, type LoadedExperiment, type LoadedRun } from './data.js';
import { noiseLabel } from './checks.js';
import { configsOf, describeData } from './common.js';
import type { Check, Figure, Section } from './html.js';
import { lineChart, type Series } from './svg.js';

export const RULE_COLORS: Record<string, string> = { sgd: '#222222', ra3: '#ff7f0e', rm3: '#1f77b4', m3: '#2ca02c' };

/** Final training-sample accuracy minus final test accuracy. */
export function gapOf(run: LoadedRun | undefined): number {
  return finalOf(run, 'train-sample') - finalOf(run, 'test');
}

function points(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} pts` : 'n/a';
}

/** Figures 2 and 3 of the paper from a suppression experiment folder. */
export function suppressionSection(e: LoadedExperiment): Section {
  const rules = (e.spec.options.rules as string[]) ?? [];
  const levels = (e.spec.options.noise as number[]) ?? [];
  const run = (rule: string, p: number) => e.runs.get(noiseRunName(p, `${rule}-`));
  const has = (r: string) => rules.includes(r);
  const figures: Figure[] = levels.map((p) => {
    const series: Series[] = rules.flatMap((r) => [
      { label: `${r.toUpperCase()} train`, color: RULE_COLORS[r] ?? '#888', points: curve(run(r, p), 'train-sample', 'acc') },
      { label: `${r.toUpperCase()} test`, color: RULE_COLORS[r] ?? '#888', dash: true, points: curve(run(r, p), 'test', 'acc') },
    ]);
    const gap = (r: string) => gapOf(run(r, p));
    const checks: Check[] = [];
    if (has('sgd') && has('rm3')) {
      checks.push({
        prediction: 'RM3 (suppressing weak gradient directions) has a smaller generalisation gap than SGD.',
        agrees: Number.isFinite(gap('rm3')) && Number.isFinite(gap('sgd')) ? gap('rm3') < gap('sgd') : null,
        evidence: `final train − test accuracy: RM3 ${points(gap('rm3'))}, SGD ${points(gap('sgd'))}`,
      });
    }
    if (has('sgd') && has('rm3') && has('ra3')) {
      const dRa = Math.abs(gap('ra3') - gap('sgd')), dRm = Math.abs(gap('rm3') - gap('sgd'));
      checks.push({
        prediction: 'The median matters, not the rolling: RA3 (rolling mean) behaves like SGD, unlike RM3.',
        agrees: Number.isFinite(dRa) && Number.isFinite(dRm) ? dRa < dRm : null,
        evidence: `gap differs from SGD's by ${points(dRa)} for RA3 and ${points(dRm)} for RM3`,
      });
    }
    if (has('m3') && has('rm3')) {
      checks.push({
        prediction: 'M3 suppresses at least as much as RM3 (SGD ≈ RA3 ≪ RM3 < M3): an even smaller gap.',
        agrees: Number.isFinite(gap('m3')) && Number.isFinite(gap('rm3')) ? gap('m3') <= gap('rm3') : null,
        evidence: `gap: M3 ${points(gap('m3'))}, RM3 ${points(gap('rm3'))}`,
      });
    }
    return {
      title: `Train and test accuracy at ${noiseLabel(p)} noise`,
      caption: 'Solid: training sample (noisy labels); dashed: test set. One colour per rule.',
      svg: lineChart({ title: `${noiseLabel(p)} label noise: train (solid), test `
        + `(dashed)`, xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series }),
      checks,
    };
  });

  // Figure 3: pristine vs corrupt at the noise levels that have both.
  for (const p of levels.filter((q) => q > 0 && q < 1)) {
    const series: Series[] = rules.flatMap((r) => [
      { label: `${r.toUpperCase()} pristine`, color: RULE_COLORS[r] ?? '#888', points: curve(run(r, p), 'pristine', 'acc') },
      { label: `${r.toUpperCase()} corrupt`, color: RULE_COLORS[r] ?? '#888', dash: true, points: curve(run(r, p), 'corrupt', 'acc') },
    ]);
    const sep = (r: string) => finalOf(run(r, p), 'pristine') - finalOf(run(r, p), 'corrupt');
    const corrupt = (r: string) => finalOf(run(r, p), 'corrupt');
    const checks: Check[] = [];
    if (has('sgd') && has('rm3')) {
      checks.push({
        prediction: 'RM3 learns the pristine examples but not the corrupt ones, unlike SGD, which learns both: weak directions are responsible for '
          + 'memorisation.',
        agrees: Number.isFinite(sep('rm3')) && Number.isFinite(sep('sgd')) ? sep('rm3') > sep('sgd') && corrupt('rm3') < corrupt('sgd') : null,
        evidence: `final pristine − corrupt accuracy: RM3 ${points(sep('rm3'))} (corrupt ${pct(corrupt('rm3'))}), SGD ${points(sep('sgd'))} (corrupt `
          + `${pct(corrupt('sgd'))})`,
      });
    }
    if (has('ra3') && has('m3') && has('sgd') && has('rm3')) {
      checks.push({
        prediction: 'RA3 memorises corrupt examples like SGD; M3 suppresses them like RM3.',
        agrees: [corrupt('ra3'), corrupt('m3'), corrupt('sgd'), corrupt('rm3')].every(Number.isFinite)
          ? Math.abs(corrupt('ra3') - corrupt('sgd')) < Math.abs(corrupt('ra3') - corrupt('rm3'))
            && Math.abs(corrupt('m3') - corrupt('rm3')) < Math.abs(corrupt('m3') - corrupt('sgd'))
          : null,
        evidence: `final corrupt accuracy: SGD ${pct(corrupt('sgd'))}, RA3 ${pct(corrupt('ra3'))}, RM3 ${pct(corrupt('rm3'))}, M3 ${pct(corrupt('m3'))}`,
      });
    }
    figures.push({
      title: `Pristine and corrupt accuracy at ${noiseLabel(p)} noise`,
      caption: 'Solid: pristine sample; dashed: corrupt sample (accuracy on the noisy labels). One colour per rule.',
      svg: lineChart({ title: `${noiseLabel(p)} noise: pristine (solid), corrupt `
        + `(dashed)`, xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series }),
      checks,
    });
  }

  const anyRun = e.runs.get(noiseRunName(levels[0] ?? 0, `${rules[0]}-`));
  const status = (r: LoadedRun | undefined) => !r ? 'missing' : !r.summary ? 'unfinished' : r.summary.status === 'diverged' ? `diverged at step `
    + `${r.summary.divergedAtStep}` : r.summary.status;
  return {
    id: 'suppression',
    title: 'Suppressing weak gradient directions: SGD, RA3, RM3, M3',
    paper: 'Paper: Section 3.3, Figures 2 and 3; schematically SGD ≈ RA3 ≪ RM3 < M3 in suppressing weak directions.',
    setup: `${rules.map((r) => r.toUpperCase()).join(', ')} on ${describeData(anyRun)} at ${levels.map(noiseLabel).join(', ')} label noise. M3 splits each `
      + `batch into 3 groups (batch rounded up to a multiple of 3, as the paper's 264 for 256).`,
    figures,
    tables: [{
      id: 'gaps',
      title: 'Final accuracies and generalisation gap',
      columns: ['rule', 'noise', 'batch', 'final train acc', 'final test acc', 'gap (train − test)', 'final pristine acc', 'final corrupt acc', 'status'],
      rows: levels.flatMap((p) => rules.map((r) => {
        const x = run(r, p);
        return [r.toUpperCase(), noiseLabel(p), x?.config.batchSize ?? 'n/a', pct(finalOf(x, 'train-sample')), pct(finalOf(x, 'test')), points(gapOf(x)),
          evals(x, 'pristine').length ? pct(finalOf(x, 'pristine')) : 'n/a', evals(x, 'corrupt').length ? pct(finalOf(x, 'corrupt')) : 'n/a', status(x)];
      })),
    }],
    command: e.spec.command,
    configs: configsOf(e),
  };
}

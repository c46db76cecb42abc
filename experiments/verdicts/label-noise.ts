import { dropFromPeak, earlySpeed } from './measures.js';
import { MEMORISED } from './suppression.js';
import { accuracyOf, decide, estimate, noVerdict, pct, showEstimate, trend, waitingFor, type Condition, type Verdict } from './verdict.js';

export interface NoiseLevelRuns { noise: number; runs: Condition }

const show = (noise: number) => `${+(noise * 100).toFixed(1)}%`;

function slopeText(levels: number[], means: number[], slope: number, se: number, unit: string): string {
  return `${levels.map((p, i) => `${show(p)}: ${pct(means[i])}`).join(', ')}; slope ${(slope * 100).toFixed(1)} ${unit} per unit of noise ± ${(se * 100).toFixed(1)}`;
}

/**
 * Verdicts of Section 2 (Figure 1) over noise levels and seeds. `window` is the early window in epochs
 * over which speeds are measured (mean accuracy of the evaluations up to it). Trends use every level
 * (least-squares slope over the noise level with its standard error), never just the two ends.
 */
export function labelNoiseVerdicts(levels: NoiseLevelRuns[], window: number): Verdict[] {
  const sorted = [...levels].sort((a, b) => a.noise - b.noise);
  const all = Object.fromEntries(sorted.map((l) => [show(l.noise), l.runs]));
  const wait = waitingFor(all);
  const out: Verdict[] = [];
  const speedTrend = (id: string, kind: 'test' | 'context', prediction: string, set: string, use: (p: number) => boolean, premise?: { text: string; ok: (means: number[]) => boolean }) => {
    const base = { id, kind, prediction, rule: `least-squares slope over all noise levels of the mean ${set} accuracy during the first ${window} epochs (speed) must be below −2 standard errors${premise ? `; premise: ${premise.text}` : ''}.` };
    if (wait.length) return noVerdict(base, wait);
    const chosen = sorted.filter((l) => use(l.noise));
    const est = chosen.map((l) => estimate(l.runs, (r) => earlySpeed(r, set, window)));
    const t = trend(chosen.map((l) => l.noise), est);
    const met = premise ? premise.ok(est.map((e) => e.mean)) : true;
    return {
      ...base, outcome: chosen.length < 2 ? 'cannot-tell' as const : met ? decide(-t.slope, t.se) : 'cannot-tell' as const,
      premise: premise ? { text: premise.text, met, evidence: `levels ${chosen.map((l) => show(l.noise)).join(', ')}` } : undefined,
      evidence: { slope: t.slope, se: t.se, ...Object.fromEntries(chosen.map((l, i) => [show(l.noise), est[i].mean])) },
      text: `early ${set} accuracy: ${slopeText(t.levels, t.means, t.slope, t.se, 'pts')}`,
    };
  };

  out.push(speedTrend('label-noise-pristine-speed', 'test', 'With more noise (fewer pristine examples sharing the signal) the pristine examples are learned more slowly.',
    'pristine', (p) => p < 1, { text: `SGD learns the pristine examples at the lowest noise level (final accuracy ≥ ${pct(MEMORISED, 0)})`, ok: () => lowestLearned() }));
  out.push(speedTrend('label-noise-corrupt-speed', 'test', 'Observed in the paper (Figure 1d): corrupt examples are also learned more slowly as the noise increases.',
    'corrupt', (p) => p > 0));
  out.push(speedTrend('label-noise-train-speed', 'context', 'With more noise the training labels are fitted more slowly (follows from the noisy labels themselves).',
    'train-sample', () => true));

  function lowestLearned(): boolean {
    const first = sorted.find((l) => l.noise < 1);
    return !!first && accuracyOf(first.runs, 'pristine').mean >= MEMORISED;
  }

  // Malignant overfitting: test accuracy lost from its peak grows with the noise, once the noise is memorised.
  const noisy = sorted.filter((l) => l.noise < 1);
  const dropBase = {
    id: 'label-noise-overfitting', kind: 'test' as const,
    prediction: 'Overfitting is benign without noise and malignant with it: the test accuracy lost from its peak grows with the noise.',
    rule: `least-squares slope over the levels below 100% of (peak test accuracy − mean of the last evaluations) must exceed 2 standard errors; premise: SGD memorised the corrupt examples (≥ ${pct(MEMORISED, 0)}) at every noisy level.`,
  };
  if (wait.length) out.push(noVerdict(dropBase, wait));
  else {
    const est = noisy.map((l) => estimate(l.runs, (r) => dropFromPeak(r)));
    const memorised = noisy.filter((l) => l.noise > 0).map((l) => accuracyOf(l.runs, 'corrupt'));
    const met = memorised.length > 0 && memorised.every((m) => m.mean >= MEMORISED);
    const t = trend(noisy.map((l) => l.noise), est);
    out.push({
      ...dropBase, outcome: met && noisy.length >= 2 ? decide(t.slope, t.se) : 'cannot-tell',
      premise: { text: `SGD memorised the corrupt examples (≥ ${pct(MEMORISED, 0)})`, met, evidence: `corrupt accuracy ${memorised.map(showEstimate).join(', ')}` },
      evidence: { slope: t.slope, se: t.se },
      text: `test accuracy lost from the peak: ${slopeText(t.levels, t.means, t.slope, t.se, 'pts')}`,
    });
  }

  for (const [id, prediction, set] of [
    ['label-noise-pristine-first', 'Pristine examples are learned before corrupt ones (they share the clean signal; holds largely by how the sets are built).', 'pristine − corrupt'],
    ['label-noise-loss', 'With more noise the training loss falls more slowly (the noisy labels themselves make the loss higher).', 'train-sample loss'],
  ] as const) {
    out.push({ id, kind: 'context', prediction, rule: 'shown for context; holds by construction and is not counted.', outcome: null, evidence: {}, text: `see the ${set} curves` });
  }
  return out;
}

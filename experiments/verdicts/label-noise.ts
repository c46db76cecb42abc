import { dropFromPeak, earlySpeed } from './measures.js';
import { MEMORISED } from './suppression.js';
import { accuracyOf, decide, estimate, noVerdict, pct, showEstimate, trend, waitingFor, type Condition, type Premise, type Verdict } from './verdict.js';

export interface NoiseLevelRuns { noise: number; runs: Condition }

const show = (noise: number) => `${+(noise * 100).toFixed(1)}%`;

function slopeText(levels: number[], means: number[], slope: number, se: number): string {
  const values = levels.map((p, i) => `${show(p)}: ${pct(means[i])}`).join(', ');
  return `${values}; slope ${(slope * 100).toFixed(1)} pts per unit of noise ± ${(se * 100).toFixed(1)}`;
}

function context(id: string, prediction: string, text: string): Verdict {
  return { id, kind: 'context', prediction, rule: 'shown for context; holds by construction and is not counted.', outcome: null, evidence: {}, text };
}

/**
 * Verdicts of Section 2 (Figure 1) over noise levels and seeds. Speeds are a set's accuracy averaged over
 * the first `window` epochs; trends use every level (least-squares slope over the noise level with its
 * standard error), never just the two ends.
 */
export function labelNoiseVerdicts(levels: NoiseLevelRuns[], window: number): Verdict[] {
  const sorted = [...levels].sort((a, b) => a.noise - b.noise);
  const wait = waitingFor(Object.fromEntries(sorted.map((l) => [show(l.noise), l.runs])));
  const out: Verdict[] = [];

  /** A speed predicted to fall with the noise, over the chosen levels. */
  const slower = (id: string, kind: 'test' | 'context', prediction: string, set: string, chosen: NoiseLevelRuns[], premise?: Premise): Verdict => {
    const rule = `least-squares slope over all noise levels of the ${set} accuracy averaged over the first ${window} epochs (speed) `
      + `must be below −2 standard errors${premise ? `; premise: ${premise.text}` : ''}.`;
    const base = { id, kind, prediction, rule };
    if (wait.length) return noVerdict(base, wait);
    const est = chosen.map((l) => estimate(l.runs, (r) => earlySpeed(r, set, window)));
    const t = trend(chosen.map((l) => l.noise), est);
    const judged = chosen.length >= 2 && (premise?.met ?? true);
    return {
      ...base, premise, outcome: judged ? decide(-t.slope, t.se) : 'cannot-tell',
      evidence: { slope: t.slope, se: t.se, ...Object.fromEntries(chosen.map((l, i) => [show(l.noise), est[i].mean])) },
      text: `${set} speed: ${slopeText(t.levels, t.means, t.slope, t.se)}`,
    };
  };

  const clean = sorted.filter((l) => l.noise < 1), noisy = sorted.filter((l) => l.noise > 0);
  const lowest = wait.length || clean.length === 0 ? NaN : accuracyOf(clean[0].runs, 'pristine').mean;
  out.push(slower('label-noise-pristine-speed', 'test',
    'With more noise (fewer pristine examples sharing the signal) the pristine examples are learned more slowly.', 'pristine', clean, {
      text: `SGD learns the pristine examples at the lowest noise level (final accuracy ≥ ${pct(MEMORISED, 0)})`,
      met: lowest >= MEMORISED, evidence: `final pristine accuracy at the lowest level ${pct(lowest)}`,
    }));
  out.push(slower('label-noise-corrupt-speed', 'test',
    'Observed in the paper (Figure 1d): corrupt examples are also learned more slowly as the noise increases.', 'corrupt', noisy));
  out.push(slower('label-noise-train-speed', 'context',
    'With more noise the training labels are fitted more slowly (follows from the noisy labels themselves).', 'train-sample', sorted));

  // Malignant overfitting: test accuracy lost from its peak grows with the noise, once the noise is memorised.
  const dropBase = {
    id: 'label-noise-overfitting', kind: 'test' as const,
    prediction: 'Overfitting is benign without noise and malignant with it: the test accuracy lost from its peak grows with the noise.',
    rule: 'least-squares slope over the levels below 100% of (peak test accuracy − mean of the last evaluations) must exceed 2 standard errors; '
      + `premise: SGD memorised the corrupt examples (≥ ${pct(MEMORISED, 0)}) at every noisy level.`,
  };
  if (wait.length) out.push(noVerdict(dropBase, wait));
  else {
    const est = clean.map((l) => estimate(l.runs, (r) => dropFromPeak(r)));
    const memorised = clean.filter((l) => l.noise > 0).map((l) => accuracyOf(l.runs, 'corrupt'));
    const met = memorised.length > 0 && memorised.every((m) => m.mean >= MEMORISED);
    const t = trend(clean.map((l) => l.noise), est);
    out.push({
      ...dropBase, outcome: met && clean.length >= 2 ? decide(t.slope, t.se) : 'cannot-tell',
      premise: {
        text: `SGD memorised the corrupt examples (≥ ${pct(MEMORISED, 0)})`, met,
        evidence: `corrupt accuracy ${memorised.map(showEstimate).join(', ')}`,
      },
      evidence: { slope: t.slope, se: t.se },
      text: `test accuracy lost from the peak: ${slopeText(t.levels, t.means, t.slope, t.se)}`,
    });
  }

  out.push(context('label-noise-pristine-first', 'Pristine examples are learned before corrupt ones (they share the clean signal).',
    'see the pristine and corrupt curves'));
  out.push(context('label-noise-loss', 'With more noise the training loss falls more slowly (the noisy labels themselves raise the loss).',
    'see the training-loss curves'));
  return out;
}

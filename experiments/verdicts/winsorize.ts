import { earlySpeed, gap } from './measures.js';
import { MEMORISED } from './suppression.js';
import {
  accuracyOf, decide, difference, estimate, noVerdict, pct, pts, showEstimate, trend, waitingFor, type Condition, type Estimate, type Verdict,
} from './verdict.js';

/** The runs of one winsorization level s (examples clipped per side) at one noise level, over seeds. */
export interface WinsorLevelRuns { s: number; runs: Condition }

const noiseText = (p: number) => `${+(p * 100).toFixed(1)}% noise`;

function levelsText(levels: number[], est: Estimate[]): string {
  return levels.map((s, i) => `s = ${s}: ${showEstimate(est[i])}`).join(', ');
}

/**
 * Verdicts of Appendix B (Figure 8) and of the Coherent Gradients MNIST test (clipping c per side with
 * label noise) at one noise level. The premise is that s = 0 (plain SGD) memorised: at 100% noise its
 * training accuracy, at partial noise its corrupt accuracy, is at least 90% over the last evaluations.
 * Without noise the paper's claim (a smaller gap as s grows) is made for CIFAR-10; pass
 * `cleanGapClaimed: false` for data where the paper does not claim it (MNIST), making it context.
 */
export function winsorizeVerdicts(noise: number, levels: WinsorLevelRuns[], opts: { cleanGapClaimed: boolean; trainSet?: string; epochs: number }): Verdict[] {
  const sorted = [...levels].sort((a, b) => a.s - b.s);
  const trainSet = opts.trainSet ?? 'train-sample';
  const wait = waitingFor(Object.fromEntries(sorted.map((l) => [`s = ${l.s}`, l.runs])));
  const sValues = sorted.map((l) => l.s);
  const out: Verdict[] = [];

  if (noise === 0) {
    const base = {
      id: 'winsorize-gap-0', kind: opts.cleanGapClaimed ? 'test' as const : 'context' as const,
      prediction: 'Without noise, the train − test gap shrinks as s grows.',
      rule: 'least-squares slope of the final gap over s must be below −2 standard errors'
        + (opts.cleanGapClaimed ? '.' : ' (context: the paper claims this for CIFAR-10, not for MNIST).'),
    };
    if (wait.length) return [noVerdict(base, wait)];
    const est = sorted.map((l) => estimate(l.runs, (r) => gap(r, undefined, trainSet)));
    const t = trend(sValues, est);
    const text = `gap: ${levelsText(sValues, est)}; slope ${(t.slope * 100).toFixed(2)} pts per s ± ${(t.se * 100).toFixed(2)}`;
    return [{ ...base, outcome: decide(-t.slope, t.se), evidence: { slope: t.slope, se: t.se }, text }];
  }

  const memory = noise < 1 ? 'corrupt' : trainSet;
  const premiseText = `s = 0 memorised: its ${memory} accuracy is at least ${pct(MEMORISED, 0)}`;
  const speedBase = {
    id: `winsorize-speed-${noise}`, kind: 'test' as const,
    prediction: `At ${noiseText(noise)}, memorisation slows as s grows (more weak directions suppressed).`,
    rule: `least-squares slope over every s of the mean ${memory} accuracy over the whole run (${opts.epochs} epochs; higher is faster) `
      + `must be below −2 standard errors; premise: ${premiseText}.`,
  };
  const preventBase = {
    id: `winsorize-prevent-${noise}`, kind: 'test' as const,
    prediction: `At ${noiseText(noise)}, the largest s prevents memorisation that s = 0 achieves.`,
    rule: `s = 0's minus the largest s's ${memory} accuracy over the last evaluations must exceed 2 standard errors; premise: ${premiseText}.`,
  };
  if (wait.length || sorted.length < 2 || sorted[0].s !== 0) {
    const why = wait.length ? wait : ['s = 0 and at least one other level'];
    return [noVerdict(speedBase, why), noVerdict(preventBase, why)];
  }
  const zero = accuracyOf(sorted[0].runs, memory);
  const premise = { text: premiseText, met: zero.mean >= MEMORISED, evidence: `s = 0: ${showEstimate(zero)}` };
  const speed = sorted.map((l) => estimate(l.runs, (r) => earlySpeed(r, memory, opts.epochs)));
  const t = trend(sValues, speed);
  out.push({
    ...speedBase, premise, outcome: premise.met ? decide(-t.slope, t.se) : 'cannot-tell',
    evidence: { slope: t.slope, se: t.se, ...Object.fromEntries(sorted.map((l, i) => [`s${l.s}`, speed[i].mean])) },
    text: `mean ${memory} accuracy over the run: ${levelsText(sValues, speed)}; slope ${(t.slope * 100).toFixed(2)} pts per s ± ${(t.se * 100).toFixed(2)}`,
  });
  const last = accuracyOf(sorted[sorted.length - 1].runs, memory);
  const d = difference(zero, last);
  out.push({
    ...preventBase, premise, outcome: premise.met ? decide(d.diff, d.se) : 'cannot-tell',
    evidence: { s0: zero.mean, sMax: last.mean, diff: d.diff, se: d.se },
    text: `final ${memory} accuracy: s = 0 ${showEstimate(zero)}, s = ${sorted[sorted.length - 1].s} ${showEstimate(last)}; `
      + `difference ${pts(d.diff)} ± ${(d.se * 100).toFixed(1)}`,
  });
  return out;
}

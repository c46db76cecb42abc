import { earlySpeed, gap } from './measures.js';
import {
  accuracyOf, decide, difference, estimate, noVerdict, pct, pts, showEstimate, waitingFor, type Condition, type Estimate, type Verdict,
} from './verdict.js';

/** Memorisation must reach this before "suppresses memorisation" can be judged. */
export const MEMORISED = 0.9;

export interface SuppressionRuns { sgd?: Condition; ra3?: Condition; rm3?: Condition; m3?: Condition }

/** The set that measures memorisation: corrupt examples when some labels are clean, the training sample at 100%. */
export function memorySet(noise: number): string {
  return noise < 1 ? 'corrupt' : 'train-sample';
}

type Base = Pick<Verdict, 'id' | 'prediction' | 'rule' | 'kind'>;

/**
 * Verdicts of Section 3.3 (Figures 2 and 3) at one noise level, over seeds. Memorisation is measured as
 * the memory set's accuracy averaged over the run's `window` epochs (area under the curve), since with a
 * long enough run every rule ends near 100% and only the speed tells them apart. Premise of every noisy
 * verdict: SGD memorised, i.e. its memory-set accuracy over the last evaluations is at least 90%.
 * Without noise the verdict is on the final train − test gap, with the premise that SGD fits its sample.
 */
export function suppressionVerdicts(noise: number, runs: SuppressionRuns, window: number): Verdict[] {
  const level = `${+(noise * 100).toFixed(1)}% noise`;
  const set = memorySet(noise);
  const speed = (c: Condition) => estimate(c, (r) => earlySpeed(r, set, window));
  const premiseOf = (c: Condition) => {
    const e = accuracyOf(c, noise > 0 ? set : 'train-sample');
    const text = `SGD ${noise > 0 ? 'memorised' : 'fits its training sample'}: final ${noise > 0 ? set : 'train-sample'} accuracy ≥ ${pct(MEMORISED, 0)}`;
    return { text, met: e.mean >= MEMORISED, evidence: `SGD ${showEstimate(e)}` };
  };
  type Compared = { a: Estimate; b: Estimate; label: string; extraPremise?: { met: boolean; text: string } };
  const judge = (base: Base, need: SuppressionRuns, compute: () => Compared): Verdict => {
    const wait = waitingFor(Object.fromEntries(Object.entries(need).map(([k, v]) => [k.toUpperCase(), v])));
    if (wait.length) return noVerdict(base, wait);
    const { a, b, label, extraPremise } = compute();
    const p = premiseOf(runs.sgd!);
    const premise = extraPremise ? { ...p, text: `${p.text}; ${extraPremise.text}`, met: p.met && extraPremise.met } : p;
    const d = difference(a, b);
    return {
      ...base, premise, outcome: premise.met ? decide(d.diff, d.se) : 'cannot-tell',
      evidence: { a: a.mean, b: b.mean, diff: d.diff, se: d.se, seeds: a.values.length },
      text: `${label}: ${showEstimate(a)} vs ${showEstimate(b)}; difference ${pts(d.diff)} ± ${(d.se * 100).toFixed(1)}`,
    };
  };
  const memo = `${set} accuracy averaged over ${window} epochs`;

  if (noise === 0) {
    return [judge({
      id: 'suppression-gap-0', kind: 'test', prediction: 'Without noise, RM3 has a smaller generalisation gap than SGD.',
      rule: 'SGD\'s minus RM3\'s final train − test gap (last evaluations) must exceed 2 standard errors (seed spread, or binomial with one seed); '
        + `premise: SGD fits its training sample (≥ ${pct(MEMORISED, 0)}).`,
    }, { sgd: runs.sgd, rm3: runs.rm3 }, () => ({ a: estimate(runs.sgd!, (r) => gap(r)), b: estimate(runs.rm3!, (r) => gap(r)), label: 'gap, SGD vs RM3' }))];
  }
  return [
    judge({
      id: `suppression-rm3-${noise}`, kind: 'test',
      prediction: `At ${level}, RM3 memorises the noisy labels more slowly than SGD (weak directions carry memorisation).`,
      rule: `SGD's minus RM3's ${memo} must exceed 2 standard errors; premise: SGD memorised (≥ ${pct(MEMORISED, 0)} at the end).`,
    }, { sgd: runs.sgd, rm3: runs.rm3 }, () => ({ a: speed(runs.sgd!), b: speed(runs.rm3!), label: `${memo}, SGD vs RM3` })),
    judge({
      id: `suppression-ra3-${noise}`, kind: 'test', prediction: `At ${level}, the median matters, not the rolling: RA3 memorises faster than RM3, like SGD.`,
      rule: `RA3's minus RM3's ${memo} must exceed 2 standard errors; premises: SGD memorised and RM3 memorised more slowly than SGD by 2 standard errors.`,
    }, { sgd: runs.sgd, ra3: runs.ra3, rm3: runs.rm3 }, () => {
      const s = difference(speed(runs.sgd!), speed(runs.rm3!));
      const extraPremise = { met: decide(s.diff, s.se) === 'agrees', text: `RM3 slower than SGD (${pts(s.diff)} ± ${(s.se * 100).toFixed(1)})` };
      return { a: speed(runs.ra3!), b: speed(runs.rm3!), label: `${memo}, RA3 vs RM3`, extraPremise };
    }),
    judge({
      id: `suppression-m3-${noise}`, kind: 'test', prediction: `At ${level}, M3 suppresses memorisation more than RM3 (SGD ≈ RA3 ≪ RM3 < M3).`,
      rule: `RM3's minus M3's ${memo} must exceed 2 standard errors (the reverse beyond 2 disagrees); premise: SGD memorised.`,
    }, { sgd: runs.sgd, rm3: runs.rm3, m3: runs.m3 }, () => ({ a: speed(runs.rm3!), b: speed(runs.m3!), label: `${memo}, RM3 vs M3` })),
  ];
}

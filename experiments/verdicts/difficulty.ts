import { binomialSe, mean, sampleSd } from './stats.js';
import { decide, noVerdict, pct, trend, type Estimate, type Verdict } from './verdict.js';

/** Examples of one difficulty level and how many a run classified correctly at its end. */
export interface LevelCount { difficulty: number; count: number; correct: number }
export interface DifficultyRun { name: string; seed: number; finished: boolean; levels: LevelCount[] }

/** SGD must reach this on every populated level but at most one for the trend to be judged. */
export const LEARNED = 0.9;

function perLevel(runs: DifficultyRun[], d: number): { acc: number; n: number; perSeed: number[] } {
  let n = 0, c = 0;
  const perSeed: number[] = [];
  for (const r of runs) {
    const l = r.levels.find((x) => x.difficulty === d);
    if (!l || l.count === 0) continue;
    n += l.count; c += l.correct;
    perSeed.push(l.correct / l.count);
  }
  return { acc: n > 0 ? c / n : NaN, n, perSeed };
}

/**
 * Section 4.3 (Figure 5a): RM3 falls further behind SGD the harder the examples. Per difficulty level,
 * SGD's minus RM3's accuracy (pooled over seeds; error: the two binomial errors, or the seed spread of
 * the paired differences when larger); the verdict is on the least-squares slope over every populated
 * level, weighted by those errors. Premise: SGD learns almost every level (≥ 90% on all but one).
 */
export function difficultyVerdicts(sgd: DifficultyRun[], rm3: DifficultyRun[]): Verdict[] {
  const base = {
    id: 'difficulty-slope', kind: 'test' as const,
    prediction: 'Suppressing weak directions (RM3) costs more accuracy the harder the examples: SGD − RM3 grows with difficulty.',
    rule: 'least-squares slope of SGD\'s minus RM3\'s accuracy over every populated difficulty level, weighted by its standard error, '
      + `must exceed 2 standard errors; premise: SGD reaches ${pct(LEARNED, 0)} on every level but at most one.`,
  };
  const waiting = [...sgd, ...rm3].filter((r) => !r.finished).map((r) => `${r.name} (unfinished)`);
  if (sgd.length === 0) waiting.push('SGD (no run)');
  if (rm3.length === 0) waiting.push('RM3 (no run)');
  if (waiting.length) return [noVerdict(base, waiting)];
  const levels = [...new Set(sgd.flatMap((r) => r.levels.filter((l) => l.count > 0).map((l) => l.difficulty)))].sort((a, b) => a - b);
  const diffs: Estimate[] = levels.map((d) => {
    const a = perLevel(sgd, d), b = perLevel(rm3, d);
    const binom = Math.hypot(binomialSe(a.acc, a.n), binomialSe(b.acc, b.n));
    const paired = a.perSeed.length >= 2 && a.perSeed.length === b.perSeed.length ? a.perSeed.map((v, i) => v - b.perSeed[i]) : [];
    const spread = paired.length >= 2 ? sampleSd(paired) / Math.sqrt(paired.length) : 0;
    const values = paired.length ? paired : [a.acc - b.acc];
    return { mean: a.acc - b.acc, se: Math.max(binom, spread), values, seeds: [], floor: binom, basis: paired.length ? 'seeds' : 'one seed' };
  });
  const sgdAcc = levels.map((d) => perLevel(sgd, d).acc);
  const unlearned = sgdAcc.filter((a) => !(a >= LEARNED)).length;
  const premise = {
    text: `SGD reaches ${pct(LEARNED, 0)} on every difficulty level but at most one`, met: levels.length >= 2 && unlearned <= 1,
    evidence: `SGD per level: ${levels.map((d, i) => `${d}: ${pct(sgdAcc[i])}`).join(', ')}`,
  };
  const t = trend(levels, diffs);
  return [{
    ...base, premise, outcome: premise.met ? decide(t.slope, t.se) : 'cannot-tell',
    evidence: { slope: t.slope, se: t.se, levels: levels.length, meanGap: mean(diffs.map((e) => e.mean)) },
    text: `SGD − RM3 per level: ${levels.map((d, i) => `${d}: ${(diffs[i].mean * 100).toFixed(1)} ± ${(diffs[i].se * 100).toFixed(1)}`).join(', ')}; `
      + `slope ${(t.slope * 100).toFixed(2)} pts per level ± ${(t.se * 100).toFixed(2)}`,
  }];
}

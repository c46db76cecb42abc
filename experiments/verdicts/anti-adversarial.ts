import { epochsTo } from './measures.js';
import { mean, sampleSd } from './stats.js';
import { decide, noVerdict, pct, waitingFor, type Condition, type Outcome, type Verdict } from './verdict.js';

/** Goals at which the two memorisation curves are compared. */
export const GOALS = [0.5, 0.7, 0.9];
/** A run with more dead hidden units than this measures dead units, not the paper's question. */
export const MAX_DEAD = 0.1;

/**
 * Section 2's anti-adversarial initialisation: from clean-trained weights, 100%-noise labels are
 * memorised faster than from a random initialisation. Epochs to 50%, 70% and 90% training accuracy are
 * interpolated between evaluations; at each goal scratch − pretrained must exceed 2 standard errors
 * (seed spread of the paired differences, floored at the evaluation spacing). Agrees or disagrees only
 * when every goal does; premises: both runs reach every goal and neither has more than 10% dead units.
 */
export function antiAdversarialVerdicts(pretrained: Condition | undefined, scratch: Condition | undefined, set = 'train'): Verdict[] {
  const base = {
    id: 'anti-adversarial', kind: 'test' as const,
    prediction: 'Starting from weights trained on clean labels, random labels are memorised faster than from a random initialisation.',
    rule: `epochs to ${GOALS.map((g) => pct(g, 0)).join(', ')} training accuracy, scratch minus pretrained, must exceed 2 standard errors at every goal `
      + `(the reverse at every goal disagrees); premises: both reach every goal and have at most ${pct(MAX_DEAD, 0)} dead units.`,
  };
  const wait = waitingFor({ 'from clean-trained weights': pretrained, 'from random initialisation': scratch });
  if (wait.length) return [noVerdict(base, wait)];
  const outcomes: Outcome[] = [];
  const parts: string[] = [];
  const evidence: Record<string, number> = {};
  let reached = true;
  for (const goal of GOALS) {
    const a = pretrained!.map((r) => epochsTo(r, set, goal)), b = scratch!.map((r) => epochsTo(r, set, goal));
    if (![...a, ...b].every((m) => Number.isFinite(m.value))) { reached = false; parts.push(`${pct(goal, 0)}: not reached by every run`); continue; }
    const d = b.map((m, i) => m.value - (a[i]?.value ?? NaN));
    const resolution = Math.max(...a.map((m, i) => Math.hypot(m.sd, b[i].sd)));
    const se = Math.max(d.length >= 2 ? sampleSd(d) / Math.sqrt(d.length) : 0, resolution);
    outcomes.push(decide(mean(d), se));
    evidence[`diff${goal * 100}`] = mean(d);
    evidence[`se${goal * 100}`] = se;
    const [ea, eb, ed] = [mean(a.map((m) => m.value)), mean(b.map((m) => m.value)), mean(d)];
    parts.push(`${pct(goal, 0)}: pretrained ${ea.toFixed(1)} vs scratch ${eb.toFixed(1)} epochs (${ed >= 0 ? '+' : ''}${ed.toFixed(1)} ± ${se.toFixed(1)})`);
  }
  const dead = [...pretrained!, ...scratch!].map((r) => r.deadFraction).filter((x): x is number => x !== undefined);
  const alive = dead.every((x) => x <= MAX_DEAD);
  const premise = {
    text: `both runs reach every goal and have at most ${pct(MAX_DEAD, 0)} dead units`, met: reached && alive,
    evidence: dead.length ? `dead units ${dead.map((x) => pct(x)).join(', ')}` : 'dead units not measured',
  };
  const unanimous = (o: Outcome) => outcomes.length === GOALS.length && outcomes.every((x) => x === o);
  const outcome: Outcome = !premise.met ? 'cannot-tell' : unanimous('agrees') ? 'agrees' : unanimous('disagrees') ? 'disagrees' : 'cannot-tell';
  return [{ ...base, premise, outcome, evidence, text: parts.join('; ') }];
}

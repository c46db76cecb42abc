import { accuracyOf, decide, difference, estimate, noVerdict, showEstimate, waitingFor, type Condition, type Verdict } from './verdict.js';

/**
 * Sections 4.2 and 4.4 (Figure 4): easy examples generalise to other easy ones better than hard ones to
 * hard ones: the hard model's gap (h-train − h-test) exceeds the easy model's (e-train − e-test) by 2
 * standard errors. Premise: both models fit their own training sets (≥ 90%). "Easy is learned faster"
 * and "a model of easy examples does poorly on hard ones" follow from how the sets are built: context.
 */
export function easyHardVerdicts(easy: Condition | undefined, hard: Condition | undefined): Verdict[] {
  const base = {
    id: 'easy-hard-gap', kind: 'test' as const,
    prediction: 'Easy examples generalise to other easy examples better than hard ones to other hard ones (a smaller gap).',
    rule: '(h-train − h-test) minus (e-train − e-test) accuracy over the last evaluations must exceed 2 standard errors; '
      + 'premise: both models fit their training sets (≥ 90%).',
  };
  const context: Verdict[] = [
    {
      id: 'easy-hard-speed', kind: 'context', prediction: 'Easy examples are learned faster than hard ones.',
      rule: 'shown for context; holds by how easy and hard are chosen and is not counted.', outcome: null, evidence: {}, text: 'see the training curves',
    },
    {
      id: 'easy-hard-loss', kind: 'context', prediction: 'The easy examples\' loss falls faster early in training.',
      rule: 'shown for context; holds by how easy and hard are chosen and is not counted.', outcome: null, evidence: {}, text: 'see the loss curves',
    },
    {
      id: 'easy-hard-transfer', kind: 'context', prediction: 'A model trained on easy examples does poorly on hard ones (paper: 85% e-test, 17% h-test).',
      rule: 'shown for context; expected from how the sets are built and not counted.', outcome: null, evidence: {}, text: 'see the table of final accuracies',
    },
  ];
  const wait = waitingFor({ easy, hard });
  const transferBase = {
    id: 'easy-hard-hard-to-easy', kind: 'test' as const,
    prediction: 'Hard examples do not generalise well to easy ones either (paper: 44% on e-test against 85% for easy on easy), against the view '
      + 'that SGD moves from simple to complex hypotheses.',
    rule: 'e-test accuracy of the easy model minus that of the hard model must exceed 2 standard errors; premise: both models fit their training sets.',
  };
  if (wait.length) return [noVerdict(base, wait), noVerdict(transferBase, wait), ...context];
  // Each model's gap against its own test set (e-test or h-test).
  const own = (runs: Condition, testSet: string) => estimate(runs, (r) => {
    const t = accuracyOf([r], 'train'), s = accuracyOf([r], testSet);
    return { value: t.mean - s.mean, sd: Math.hypot(t.se, s.se), n: NaN };
  });
  const e = own(easy!, 'e-test'), h = own(hard!, 'h-test');
  const fitE = accuracyOf(easy!, 'train'), fitH = accuracyOf(hard!, 'train');
  const premise = {
    text: 'both models fit their training sets (≥ 90%)', met: fitE.mean >= 0.9 && fitH.mean >= 0.9,
    evidence: `e-train ${showEstimate(fitE)}, h-train ${showEstimate(fitH)}`,
  };
  const diff = h.mean - e.mean, se = Math.hypot(h.se, e.se);
  // Hard examples do not generalise to easy ones either: on e-test the easy model beats the hard one.
  const onEasyE = accuracyOf(easy!, 'e-test'), onEasyH = accuracyOf(hard!, 'e-test');
  const d = difference(onEasyE, onEasyH);
  const transfer: Verdict = {
    ...transferBase, premise, outcome: premise.met ? decide(d.diff, d.se) : 'cannot-tell',
    evidence: { easyOnEasy: onEasyE.mean, hardOnEasy: onEasyH.mean, diff: d.diff, se: d.se },
    text: `e-test accuracy: trained on easy ${showEstimate(onEasyE)}, trained on hard ${showEstimate(onEasyH)}`,
  };
  return [transfer, {
    ...base, premise, outcome: premise.met ? decide(diff, se) : 'cannot-tell',
    evidence: { easyGap: e.mean, hardGap: h.mean, diff, se },
    text: `gap: easy ${(e.mean * 100).toFixed(1)} ± ${(e.se * 100).toFixed(1)} pts, hard ${(h.mean * 100).toFixed(1)} ± ${(h.se * 100).toFixed(1)} pts`,
  }, ...context];
}

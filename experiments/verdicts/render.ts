import { esc } from '../report/svg.js';
import { tally, type Verdict } from './verdict.js';

/**
 * HTML for verdicts: one block per verdict beside its figure (outcome, the paper's prediction, the rule,
 * the premise and the evidence) and the page's summary table, one coloured row per verdict with its
 * evidence and a link to its panel. Context checks are shown apart and never counted. With `smoke`
 * (cgh reproduce --quick) every outcome is labelled "smoke test, not evidence".
 */

export const VERDICT_CSS = `
.check { margin: 6px 0 12px; padding: 6px 10px; border-left: 4px solid #999; background: #f7f7f7; }
.check.agrees { border-color: #2a9d4a; } .check.disagrees { border-color: #c62828; } .check.cannot-tell { border-color: #d9a400; }
.check.pending, .check.context { border-color: #bbb; color: #555; }
.outcome { font-weight: bold; } .agrees .outcome { color: #1e7a38; } .disagrees .outcome { color: #b71c1c; } .cannot-tell .outcome { color: #8a6d00; }
.rule, .premise { font-size: 12px; color: #555; } .premise.unmet { color: #8a6d00; }
tr.agrees td { background: #e6f4ea; } tr.disagrees td { background: #fdecea; } tr.cannot-tell td { background: #fff8e1; }
tr.pending td, tr.context td { background: #f4f4f4; color: #666; }
.smoke { color: #b71c1c; font-weight: bold; }
`;

/** The outcome in words: agrees, disagrees, cannot tell, no verdict (unfinished), or context. */
export function outcomeText(v: Verdict): string {
  if (v.kind === 'context') return 'context';
  if (v.outcome === null) return 'no verdict';
  return v.outcome === 'cannot-tell' ? 'cannot tell' : v.outcome;
}

function outcomeClass(v: Verdict): string {
  return v.kind === 'context' ? 'context' : v.outcome ?? 'pending';
}

export function renderVerdict(v: Verdict, smoke = false): string {
  const p = v.premise;
  const premise = p ? `<div class="premise${p.met ? '' : ' unmet'}">Premise ${p.met ? 'met' : 'not met'}: ${esc(p.text)} (${esc(p.evidence)})</div>` : '';
  const tag = smoke && v.kind === 'test' && v.outcome !== null ? ' <span class="smoke">(smoke test, not evidence)</span>' : '';
  return `<div class="check ${outcomeClass(v)}" id="verdict-${esc(v.id)}"><div>Paper: ${esc(v.prediction)}</div>`
    + `<div><span class="outcome">This run: ${outcomeText(v)}</span>${tag} — ${esc(v.text)}</div>`
    + `<div class="rule">Rule: ${esc(v.rule)}</div>${premise}</div>`;
}

/** The evidence, led by the unmet premise when that is what decided it. */
function evidenceText(v: Verdict): string {
  return v.premise && !v.premise.met ? `premise not met (${v.premise.text}: ${v.premise.evidence}); ${v.text}` : v.text;
}

/** Where a verdict is shown: the section and figure titles and the figure's anchor. */
export interface Placed { verdict: Verdict; section: string; figure: string; anchor: string }

/** The summary table and its tally line; counted verdicts first, then context. */
export function renderSummary(placed: Placed[], smoke = false): string {
  if (placed.length === 0) return '';
  const counted = placed.filter((p) => p.verdict.kind === 'test'), context = placed.filter((p) => p.verdict.kind === 'context');
  const row = (p: Placed) => `<tr class="${outcomeClass(p.verdict)}"><td><a href="#${esc(p.anchor)}">${esc(p.section)}: ${esc(p.figure)}</a></td>`
    + `<td>${outcomeText(p.verdict)}</td><td>${esc(p.verdict.prediction)}</td><td>${esc(evidenceText(p.verdict))}</td></tr>`;
  const t = tally(placed.map((p) => p.verdict));
  const head = '<tr><th>panel</th><th>verdict</th><th>paper\'s prediction</th><th>evidence</th></tr>';
  const line = `${t.agrees} of ${counted.length} counted checks agree with the paper, ${t.disagrees} disagree, ${t.cannotTell} cannot be told apart `
    + `from noise or have an unmet premise${t.pending ? `, ${t.pending} have no verdict yet (unfinished runs)` : ''}; `
    + `${t.context} checks that hold by construction are shown as context and not counted.`;
  return `<table class="summary">${head}${counted.map(row).join('')}${context.map(row).join('')}</table>`
    + `<p>${smoke ? '<span class="smoke">Smoke test, not evidence:</span> ' : ''}${esc(line)}</p>`;
}

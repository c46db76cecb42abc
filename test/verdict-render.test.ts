import { test } from 'uvu';
import { renderSummary, renderVerdict } from '../experiments/verdicts/render.js';
import type { Verdict } from '../experiments/verdicts/verdict.js';
import { orderedColors } from '../experiments/report/ordered-palette.js';

const base = { prediction: 'P <1>', rule: 'r', evidence: { diff: 0.1 }, text: 'diff +10 pts ± 2' };
const verdicts: Verdict[] = [
  { ...base, id: 'a', kind: 'test', outcome: 'agrees', premise: { text: 'SGD memorised', met: true, evidence: '99%' } },
  { ...base, id: 'b', kind: 'test', outcome: 'cannot-tell', premise: { text: 'SGD memorised', met: false, evidence: '35%' } },
  { ...base, id: 'c', kind: 'test', outcome: null, text: 'no verdict: waiting for x (unfinished)' },
  { ...base, id: 'd', kind: 'context', outcome: null },
  { ...base, id: 'e', kind: 'test', outcome: 'disagrees' },
];

test('the summary counts only tested verdicts, links each row to its panel and colours it by outcome', () => {
  const html = renderSummary(verdicts.map((v, i) => ({ verdict: v, section: 'S', figure: `F${i}`, anchor: `fig-${i}` })));
  for (const want of ['1 of 4 counted checks agree', '1 disagree', '1 cannot be told', '1 have no verdict yet', '1 checks that hold by construction',
    'href="#fig-0"', 'class="agrees"', 'class="disagrees"', 'class="cannot-tell"', 'class="pending"', 'class="context"', 'P &lt;1&gt;', 'diff +10 pts']) {
    if (!html.includes(want)) throw new Error(`summary lacks ${want}: ${html}`);
  }
  if (html.includes('smoke')) throw new Error('a full run is not a smoke test');
  if (!renderSummary([{ verdict: verdicts[0], section: 'S', figure: 'F', anchor: 'x' }], true).includes('Smoke test, not evidence')) {
    throw new Error('--quick summaries must say smoke test');
  }
});

test('a verdict block states the outcome, the rule and whether its premise was met', () => {
  const unmet = renderVerdict(verdicts[1]);
  if (!unmet.includes('cannot tell') || !unmet.includes('Premise not met: SGD memorised (35%)') || !unmet.includes('Rule: r')) throw new Error(unmet);
  if (!renderVerdict(verdicts[2]).includes('no verdict')) throw new Error('an unfinished verdict must say no verdict');
  if (!renderVerdict(verdicts[0], true).includes('smoke test, not evidence')) throw new Error('smoke label missing');
  if (renderVerdict(verdicts[3], true).includes('smoke test')) throw new Error('context checks carry no smoke label');
});

test('ordered colours run from dark to light, one per level, ends fixed', () => {
  const c = orderedColors(5);
  const lum = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)).reduce((a, v, i) => a + v * [0.299, 0.587, 0.114][i], 0);
  if (c.length !== 5 || c[0] !== '#440154' || c[4] !== '#c8be14' || new Set(c).size !== 5) throw new Error(`colours ${c}`);
  for (let i = 1; i < c.length; i++) if (!(lum(c[i]) > lum(c[i - 1]))) throw new Error(`not ordered by lightness: ${c}`);
  if (orderedColors(1).length !== 1 || orderedColors(0).length !== 0) throw new Error('edge counts');
});

test.run();

// The page's charts: the scale arithmetic against plain references, then the SVG in headless Chromium (legend
// samples, axis labels, hover values, smoothing, log axis, the previous run's overlay).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../cli/serve.js';
import { axisFraction, axisValue, logTicks, nearestPoint, smooth, type Point } from '../web/chart-scale.js';
import { launchChromium } from './helpers/browser.js';

test('smooth: the debiased exponential moving average, written out', () => {
  const ys = [4, 1, 3, 8, -2, 0.5];
  const w = 0.6;
  const got = smooth(ys.map((y, i) => [i, y] as Point), w);
  for (let i = 0; i < ys.length; i++) {
    // Weights w^(i-j) (1-w) over the points so far, normalised to sum to 1.
    let num = 0, den = 0;
    for (let j = 0; j <= i; j++) { num += w ** (i - j) * ys[j]; den += w ** (i - j); }
    assert.ok(Math.abs(got[i][1] - num / den) < 1e-12, `${i}: ${got[i][1]} vs ${num / den}`);
    assert.is(got[i][0], i);
  }
  assert.equal(smooth([[0, 1], [1, 5]], 0), [[0, 1], [1, 5]]);
});

test('log axis: ticks at powers of ten (with 2 and 5 over short spans); fraction and value are inverse', () => {
  assert.equal(logTicks(1, 100), [1, 2, 5, 10, 20, 50, 100]);
  assert.equal(logTicks(1, 1000), [1, 10, 100, 1000]);
  assert.equal(logTicks(3, 40000), [10, 100, 1000, 10000]);
  assert.equal(logTicks(0.05, 0.3), [0.05, 0.1, 0.2]);
  for (const log of [false, true]) {
    for (const x of [1, 7.5, 100, 933]) assert.ok(Math.abs(axisValue(axisFraction(x, [1, 1000], log), [1, 1000], log) - x) < 1e-9 * x);
  }
  assert.ok(Math.abs(axisFraction(10, [1, 100], true) - 0.5) < 1e-12);
  assert.equal(nearestPoint([[0, 1], [1, 2], [3, 4]], 2.2), [3, 4]);
  assert.equal(nearestPoint([[0, 1], [1, 2], [3, 4]], 1.9), [1, 2]);
  assert.is(nearestPoint([], 1), null);
});

let server: RunningServer;
let browser: Browser;
let page: Page;

test.before(async () => {
  server = await startServer({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium(false);
  page = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
  await page.goto(`${server.url}style.css`);
  await page.evaluate(async (url) => {
    document.body.innerHTML = '<div id="host" style="width:560px"></div>';
    const { LineChart } = await import(url);
    const chart = new LineChart(document.getElementById('host'), {
      title: 'Loss', xLabel: 'step', yLabel: 'cross-entropy', note: 'train: measured on the noisy labels',
      series: [{ key: 'train', label: 'train', color: '#2563eb', smooth: true }, { key: 'test', label: 'test', color: '#2563eb', dashed: true }],
    });
    for (let s = 0; s <= 100; s++) chart.add(s, { train: 2 * Math.exp(-s / 30) + (s % 2 ? 0.2 : -0.2), test: s % 10 === 0 ? 1 + 1 / (1 + s) : null });
    chart.draw();
    (window as unknown as { chart: unknown }).chart = chart;
  }, `${server.url}dist/web/chart.js`);
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test('chart: a legend entry per series with a line sample drawn like it; axis labels and the note', async () => {
  const legend = await page.$$eval('#host [data-legend]', (gs) => gs.map((g) => {
    const line = g.querySelector('line')!;
    return { key: g.getAttribute('data-legend'), stroke: line.getAttribute('stroke'), dash: line.getAttribute('stroke-dasharray'), text: g.textContent };
  }));
  assert.equal(legend, [
    { key: 'train', stroke: '#2563eb', dash: null, text: 'train' },
    { key: 'test', stroke: '#2563eb', dash: '5 3', text: 'test' },
  ]);
  const labels = await page.$$eval('#host .axis-label, #host .chart-note', (ts) => ts.map((t) => t.textContent));
  assert.equal(labels, ['step', 'cross-entropy', 'train: measured on the noisy labels']);
});

test('chart: hovering shows the values nearest the pointer', async () => {
  const box = (await page.$('#host svg'))!;
  const b = (await box.boundingBox())!;
  // x = 50 lies at the middle of the plot area (62 .. 544 of 560 user units).
  await page.mouse.move(b.x + ((62 + 0.5 * (560 - 62 - 16)) / 560) * b.width, b.y + b.height / 2);
  const rows = await page.$$eval('#host .hover-box text', (ts) => ts.map((t) => t.textContent));
  assert.is(rows[0], 'step 50');
  const train = 2 * Math.exp(-50 / 30) - 0.2;
  assert.is(rows[1], `train: ${Number(train.toPrecision(4))}`);
  assert.is(rows[2], `test: ${Number((1 + 1 / 51).toPrecision(4))}`);
  await page.mouse.move(b.x - 20, b.y - 20);
  assert.is(await page.$$eval('#host .hover-box', (x) => x.length), 0);
});

test('chart: smoothing keeps the raw line faint; log axis drops x = 0; the overlay is drawn and named', async () => {
  const state = await page.evaluate(() => {
    const chart = (window as unknown as { chart: any }).chart;
    const count = (sel: string) => document.querySelectorAll(`#host ${sel}`).length;
    const points = (sel: string) => (document.querySelector(`#host ${sel}`)?.getAttribute('d')?.match(/[ML]/g) ?? []).length;
    chart.setSmoothing(0.9);
    const smoothed = { raw: count('path.raw'), trainPoints: points('path[data-series="train"]') };
    chart.setLogX(true);
    const log = { trainPoints: points('path[data-series="train"]'), xLabel: document.querySelectorAll('#host .axis-label')[0].textContent };
    chart.setLogX(false);
    chart.setSmoothing(0);
    chart.setOverlay('seed 1', chart.data());
    const overlay = { paths: count('path.overlay'), legend: document.querySelector('#host [data-legend="overlay"]')?.textContent };
    chart.setOverlay('', null);
    return { smoothed, log, overlay, after: count('path.overlay') + count('path.raw') };
  });
  assert.equal(state.smoothed, { raw: 1, trainPoints: 101 });
  assert.equal(state.log, { trainPoints: 100, xLabel: 'step (log scale)' });
  assert.equal(state.overlay, { paths: 2, legend: 'faint: seed 1' });
  assert.is(state.after, 0);
});

test.run();

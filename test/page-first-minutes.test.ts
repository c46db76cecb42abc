// The page as a new user meets it, in headless Chromium: bad settings refused as they are typed and before any
// download, settings that survive a reload, Stop answered between evaluation batches, a run kept across a reload.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../cli/serve.js';
import { gzipSync } from 'fflate';
import { Rng } from '../engine/random.js';
import { pickedFile, randomIdx } from './helpers/idx-files.js';
import { launchChromium, messageText, openPage, setSettings, waitForStatus } from './helpers/browser.js';

let server: RunningServer;
let browser: Browser;

test.before(async () => {
  server = await startServer({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

/** Requests for the dataset made by the page. */
function downloads(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/data/mnist/')) seen.push(r.url()); });
  return seen;
}

test('bad settings: a message as they are typed (the CLI\'s rules), the old one cleared, and no download on Train', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const fetched = downloads(page);
  const cases: [Record<string, string>, RegExp][] = [
    [{ momentum: '5' }, /^momentum 5 is outside \[0, 1\)/],
    [{ momentum: '0.9', epochs: '1000000000000' }, /^epochs 1000000000000 is more than 100,000/],
    [{ epochs: '5', hidden: '' }, /^hidden is empty, which would train a linear model/],
    [{ hidden: '64', 'train-subset': '70000' }, /^train subset 70000 is larger than the 60000 training examples/],
  ];
  for (const [values, message] of cases) {
    await setSettings(page, values);
    assert.match(await messageText(page) ?? '', message, JSON.stringify(values));
    await page.$eval('#train', (b) => (b as HTMLButtonElement).click());
    await page.waitForTimeout(200);
  }
  assert.equal(fetched, [], 'nothing downloaded for refused settings');
  // A learning rate far from the usual is warned about, not refused (divergence is something to study).
  await setSettings(page, { 'train-subset': '1000', lr: '1000000000' });
  assert.match(await messageText(page) ?? '', /^lr 1000000000 is far above the usual 0\.001 to 1/);
  await setSettings(page, { lr: '0.1' });
  await setSettings(page, { 'train-subset': '1000' });
  assert.is(await messageText(page), null, 'the old message goes once the settings are valid');
  assert.equal(errors, []);
});

test('settings survive a reload (they live in the address)', async () => {
  const { page } = await openPage(browser, server.url);
  await setSettings(page, { epochs: '3', 'batch-size': '32', hidden: '128,64', rule: 'rm3', noise: '25%' });
  assert.match(page.url(), /epochs=3/);
  await page.reload();
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  const values = await page.$$eval('#epochs, #batch-size, #hidden, #rule, #noise', (els) => els.map((e) => (e as HTMLInputElement).value));
  assert.equal(values.slice().sort(), ['128,64', '25%', '3', '32', 'rm3']);
});

test('Stop during an evaluation answers between its batches; the status says so; Resume finishes the evaluation', async () => {
  const { page, errors } = await openPage(browser, server.url);
  // Large samples make the first evaluation (before any step) many batches long.
  await setSettings(page, { 'train-subset': '20000', 'test-subset': '10000', 'sample-size': '20000', hidden: '32', epochs: '1', 'batch-size': '100' });
  await page.click('#train');
  // The status counts the evaluated examples of both samples (20,000 + 10,000) as the batches finish.
  await waitForStatus(page, /evaluating the curves' samples: [1-9][\d,]* of 30,000 examples \(\d+%\)/);
  await page.click('#stop');
  assert.match(await page.textContent('#status') ?? '', /stopping at the next step or evaluation batch/);
  const stopped = await waitForStatus(page, /^Stopped/);
  assert.match(stopped, /step 0\//);
  // Each evaluated set is a series of the accuracy chart; train-sample and test make the first evaluation.
  const sets = await page.$$eval('#accuracy-chart path[data-series]', (p) => p.length);
  assert.ok(sets < 2, `stopped inside the first evaluation (${sets} of its 2 sets done)`);
  await page.click('#resume');
  await page.waitForFunction(() => /step [1-9]/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
  await page.click('#stop');
  await waitForStatus(page, /^Stopped/);
  assert.equal(errors, []);
});

test('a running page warns before leaving; after a reload it offers the kept run, which continues from its last epoch', async () => {
  const { page, errors } = await openPage(browser, server.url);
  await setSettings(page, { 'train-subset': '600', 'test-subset': '500', 'sample-size': '300', hidden: '16', epochs: '3', 'batch-size': '20', seed: '4' });
  await page.click('#train');
  await waitForStatus(page, /epoch 2\/3/);
  // The first epoch's state reaches IndexedDB just after its checkpoint.
  const stored = async () => page.evaluate(async (u) => {
    const { RunStore } = await import(u);
    return ((await (await RunStore.open()).list()) as { epoch: number }[]).filter((r) => r.epoch >= 1).length;
  }, `${server.url}dist/web/run-store.js`);
  for (let i = 0; i < 100 && (await stored()) === 0; i++) await page.waitForTimeout(100);
  const warned = await page.evaluate(() => {
    const e = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(e);
    return e.defaultPrevented;
  });
  assert.ok(warned, 'leaving a running page asks first');
  // The browser's "leave this page?" question, answered yes.
  page.once('dialog', (d) => void d.accept());
  await page.reload();
  await page.waitForSelector('#resume-stored-run', { timeout: 60_000 });
  assert.match(await page.textContent('#resume-stored') ?? '', /unfinished run \(mlp, [12] of 3 epochs/);
  await page.click('#resume-stored-run');
  const done = await waitForStatus(page, /^Done/);
  assert.is(await messageText(page), null);
  assert.match(done, /step 90\/90/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-metrics')]);
  assert.is(download.suggestedFilename(), 'mlp-sgd-noise0-seed4-metrics.jsonl');
  const { readFile } = await import('node:fs/promises');
  const rows = (await readFile((await download.path())!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.filter((r) => r.kind === 'epoch').map((r) => r.epoch), [1, 2, 3], 'every epoch once');
  assert.equal(errors, []);
});

test('a kept run on picked IDX files continues once the same files are picked again', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const { images, labels } = randomIdx(new Rng(3), 6);
  const file = pickedFile;
  const files = {
    'file-train-images': file('tr-images.gz', gzipSync(images(200))),
    'file-train-labels': file('tr-labels', labels(200)),
    'file-test-images': file('te-images', images(50)),
    'file-test-labels': file('te-labels', labels(50)),
  };
  const pick = async () => {
    await page.check('input[name=source][value=files]');
    for (const [id, f] of Object.entries(files)) await page.setInputFiles(`#${id}`, f);
  };
  await pick();
  await setSettings(page, { 'train-subset': '', 'test-subset': '', 'sample-size': '', hidden: '8', epochs: '60', 'batch-size': '10', seed: '2' });
  await page.click('#train');
  await waitForStatus(page, /epoch [3-9]\/60/);
  page.once('dialog', (d) => void d.accept());
  await page.reload();
  await page.waitForSelector('#resume-stored-run', { timeout: 60_000 });
  await page.click('#resume-stored-run');
  assert.match(await messageText(page) ?? '', /picked from disk \(tr-images\.gz, tr-labels, te-images, te-labels\).*pick the same files/);
  await pick();
  await page.waitForSelector('#resume-stored-run', { timeout: 10_000 });
  await page.click('#resume-stored-run');
  await waitForStatus(page, /^Done/, 180_000);
  assert.is(await messageText(page), null);
  const rows = (await page.evaluate(async (u) => {
    const { RunStore } = await import(u);
    return (await (await RunStore.open()).list()) as { epoch: number; rows: { kind: string; epoch: number }[] }[];
  }, `${server.url}dist/web/run-store.js`)).filter((r) => r.rows.some((row) => row.kind === 'epoch' && row.epoch === 60));
  assert.ok(rows.length > 0, 'the continued run reached epoch 60');
  assert.equal(rows[0].rows.filter((r) => r.kind === 'epoch').map((r) => r.epoch), Array.from({ length: 60 }, (_, i) => i + 1), 'every epoch once');
  assert.equal(errors, []);
});

test.run();

// What the page keeps across a reload, in headless Chromium: the settings form in the URL (form-url.ts) and the
// runs in IndexedDB (run-store.ts); and the names of its downloads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../cli/serve.js';
import { runFileName } from '../web/download.js';
import { launchChromium } from './helpers/browser.js';

let server: RunningServer;
let browser: Browser;
let page: Page;

const FORM = `<form id="f">
  <label><input type="radio" name="source" value="mnist" checked> a</label><label><input type="radio" name="source" value="files"> b</label>
  <input id="epochs" type="number" value="10"><input id="hidden" value="1024,1024"><input id="train-subset" type="number">
  <select id="rule"><option value="sgd">sgd</option><option value="m3">m3</option></select>
  <input id="dense" type="checkbox"><input id="file" type="file"><button id="go" type="submit">go</button>
</form>`;

test.before(async () => {
  server = await startServer({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium(false);
  page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}style.css`);
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test('form in the URL: only changed fields, by id (radio groups by name); filled back; unknown values reported', async () => {
  const r = await page.evaluate(async ([url, html]) => {
    const m = await import(url);
    document.body.innerHTML = html;
    const form = document.getElementById('f') as HTMLFormElement;
    const untouched = m.formToQuery(form).toString();
    (document.getElementById('epochs') as HTMLInputElement).value = '3';
    (document.getElementById('train-subset') as HTMLInputElement).value = '2000';
    (document.getElementById('rule') as HTMLSelectElement).value = 'm3';
    (document.getElementById('dense') as HTMLInputElement).checked = true;
    (document.querySelector('input[value=files]') as HTMLInputElement).checked = true;
    const changed = m.formToQuery(form).toString();
    document.body.innerHTML = html;
    const fresh = document.getElementById('f') as HTMLFormElement;
    const unplaced = m.queryToForm(fresh, new URLSearchParams(`${changed}&nope=1&rule=adam`));
    const back = m.formToQuery(fresh).toString();
    // Editing the form rewrites the address bar's query.
    m.keepFormInUrl(fresh);
    (document.getElementById('hidden') as HTMLInputElement).value = '64';
    fresh.dispatchEvent(new Event('input'));
    return { untouched, changed, unplaced, back, search: location.search };
  }, [`${server.url}dist/web/form-url.js`, FORM] as const);
  assert.is(r.untouched, '');
  assert.is(r.changed, 'source=files&epochs=3&train-subset=2000&rule=m3&dense=true');
  assert.equal(r.unplaced, ['nope', 'rule']);
  assert.is(r.back, 'source=files&epochs=3&train-subset=2000&rule=m3&dense=true');
  assert.is(r.search, '?source=files&epochs=3&hidden=64&train-subset=2000&rule=m3&dense=true');
});

test('run store: runs survive a reload, newest first; the latest unfinished one; pruning keeps the newest', async () => {
  const url = `${server.url}dist/web/run-store.js`;
  await page.evaluate(async (u) => {
    const { RunStore } = await import(u);
    const store = await RunStore.open();
    const run = (id: string, status: string, savedAt: number) => ({
      id, query: `seed=${id}`, config: { seed: id }, rows: [{ kind: 'epoch', epoch: 1 }], checkpoint: new Uint8Array([1, 2, 3, Number(id)]), epoch: 1, status, savedAt,
    });
    await store.save(run('1', 'done', 100));
    await store.save(run('2', 'stopped', 200));
    await store.save(run('3', 'done', 300));
    await store.save({ ...run('2', 'running', 250), epoch: 2 });
  }, url);
  await page.reload();
  const after = await page.evaluate(async (u) => {
    const { RunStore } = await import(u);
    const store = await RunStore.open();
    const list = (await store.list()).map((r: { id: string }) => r.id);
    const latest = await store.latestUnfinished();
    const checkpoint = [...latest.checkpoint];
    await store.prune(2);
    const pruned = (await store.list()).map((r: { id: string }) => r.id);
    return { list, latest: { id: latest.id, epoch: latest.epoch, status: latest.status }, checkpoint, pruned, missing: await store.get('1') };
  }, url);
  assert.equal(after.list, ['3', '2', '1']);
  assert.equal(after.latest, { id: '2', epoch: 2, status: 'running' });
  assert.equal(after.checkpoint, [1, 2, 3, 2]);
  assert.equal(after.pruned, ['3', '2']);
  assert.is(after.missing, null);
});

test('download names tell runs apart', () => {
  assert.is(runFileName({ model: 'mlp', rule: 'sgd', noise: 0.5, seed: 0 }, 'metrics.jsonl'), 'mlp-sgd-noise50-seed0-metrics.jsonl');
  assert.is(runFileName({ model: 'resnet18-cifar', rule: 'rm3', noise: 0.125, seed: 7 }, 'checkpoint.safetensors'), 'resnet18-cifar-rm3-noise12.5-seed7-checkpoint.safetensors');
  assert.is(runFileName({ model: 'a/b c', rule: 'sgd', noise: 0, seed: 1 }, 'config.json'), 'a_b_c-sgd-noise0-seed1-config.json');
});

test.run();

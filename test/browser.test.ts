// The training page in headless Chromium: serving, training with stop/resume, agreement with cgh train,
// the no-WebGPU message and bad input. WebGPU runs on SwiftShader there, cgh train on this machine's adapter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'fflate';
import type { Browser } from 'playwright-core';
import { serveCommand, startServer, type RunningServer } from '../cli/serve.js';
import { UsageError } from '../cli/args.js';
import { decodeSafetensors } from '../engine/safetensors.js';
import { Rng } from '../engine/random.js';
import { pickedFile, randomIdx } from './helpers/idx-files.js';
import { downloadBytes, downloadText, launchChromium, messageText, openPage, seriesPoints, setSettings, waitForStatus } from './helpers/browser.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const tmp = mkdtempSync(path.join(tmpdir(), 'cgh-browser-'));

let server: RunningServer;
let browser: Browser;

test.before(async () => {
  server = await startServer({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

test.after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A raw GET (the path is sent exactly as given, dots and escapes included). */
function get(p: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('cgh serve: the page, modules, wasm and MNIST with their MIME types; nothing else, however the path is spelled', async () => {
  const served: [string, RegExp][] = [
    ['/', /^text\/html/],
    ['/style.css', /^text\/css/],
    ['/dist/web/main.js', /^text\/javascript/],
    ['/dist/engine/trainer.js', /^text\/javascript/],
    ['/dist/shaders/index.js', /^text\/javascript/],
    ['/vendor/fflate.js', /^text\/javascript/],
    ['/build/idx.wasm', /^application\/wasm$/],
    ['/data/mnist/t10k-labels-idx1-ubyte', /^application\/octet-stream$/],
  ];
  for (const [p, type] of served) {
    const r = await get(p);
    assert.is(r.status, 200, p);
    assert.match(r.type, type, p);
  }
  assert.equal([...(await get('/data/mnist/t10k-labels-idx1-ubyte')).body.subarray(0, 4)], [0, 0, 8, 1]);
  const refused = [
    '/package.json', '/dist/test/browser.test.js', '/dist/cli/serve.js', '/web/main.ts',
    '/dist/engine/../../package.json', '/dist/engine/%2e%2e/%2e%2e/package.json', '/dist/engine/..%2f..%2fpackage.json',
    '/dist/engine/%2e%2e%5c%2e%2e%5cpackage.json', '/data/mnist/../../package.json', '/data/mnist/package.json',
    '//etc/passwd', '/dist/engine/%00.js', '/%E0%A4%A', '/build/../package.json',
  ];
  for (const p of refused) assert.is((await get(p)).status, 404, p);
});

test('cgh serve: bad flags and a busy port are one-line errors', async () => {
  for (const [argv, pattern] of [[['--port', 'x'], /--port expects a whole number/], [['--port', '70000'], /not a port number/], [['--bind', '1'], /unknown flag --bind/]] as const) {
    try {
      await serveCommand([...argv]);
      assert.unreachable(`cgh serve ${argv.join(' ')} should fail`);
    } catch (e) {
      assert.instance(e, UsageError);
      assert.match((e as Error).message, pattern);
    }
  }
  try {
    await startServer({ port: server.port, host: '127.0.0.1' });
    assert.unreachable('a second server on the same port should fail');
  } catch (e) {
    assert.match((e as Error).message, /port \d+ is in use; pick another with --port/);
  }
});

test('the page imports only browser-safe modules that cgh serve serves', () => {
  // Static imports from dist/web/main.js: relative ones must stay inside the served folders, bare ones
  // must be in the page's import map. (Dynamic imports run only where they are reached: engine/device.ts
  // imports Dawn's 'webgpu' only under Node.)
  const served = ['engine', 'models', 'experiments', 'shaders', 'web'].map((d) => path.join(ROOT, 'dist', d) + path.sep);
  const importMap = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(readFileSync(path.join(ROOT, 'web', 'index.html'), 'utf8'))![1]).imports;
  const seen = new Set<string>();
  const visit = (file: string, from: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    assert.ok(served.some((d) => file.startsWith(d)), `${from} imports ${path.relative(ROOT, file)}, which cgh serve does not serve`);
    assert.ok(existsSync(file), `${from} imports ${path.relative(ROOT, file)}, which does not exist (run npm run build)`);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec), path.relative(ROOT, file));
      else assert.ok(spec in importMap, `${path.relative(ROOT, file)} imports '${spec}', which the browser cannot load (not in the import map of web/index.html)`);
    }
  };
  visit(path.join(ROOT, 'dist', 'web', 'main.js'), 'web/index.html');
  assert.ok(seen.size > 20, `followed ${seen.size} modules`);
});

const TINY = { 'train-subset': '300', 'test-subset': '1000', hidden: '16', epochs: '2', 'batch-size': '20', lr: '0.1', momentum: '0', seed: '3', 'sample-size': '300',
  noise: '0' };

interface EpochRow { kind: 'epoch'; epoch: number; step: number; run_loss: number; run_acc: number; train_loss: number; train_acc: number; test_loss: number; test_acc: number }

test('the page trains an MLP on MNIST with stop and resume, plots it, and agrees with cgh train', async () => {
  const { page, errors } = await openPage(browser, server.url);
  assert.is(await page.$eval('#fatal', (e) => (e as HTMLElement).hidden), true, `the page could not use WebGPU: ${await page.textContent('#fatal')}`);
  assert.match(await page.textContent('#adapter') ?? '', /^Adapter: \S/);
  await setSettings(page, TINY);
  await page.click('#train');
  // Stop part-way through the first epoch (15 steps per epoch), then resume.
  await page.waitForFunction(() => /step ([3-9]|1[0-4])\//.test(document.getElementById('status')!.textContent ?? '') || !document.getElementById('message')!.hidden, null, { timeout: 90_000 });
  await page.click('#stop');
  const stopped = await waitForStatus(page, /^Stopped/);
  assert.is(await messageText(page), null, 'no error message');
  assert.match(stopped, /^Stopped\. epoch 1\/2 · step \d+\/30/);
  assert.is(await page.$eval('#resume', (b) => (b as HTMLButtonElement).disabled), false, 'Resume is offered');
  const stepAtStop = Number(/step (\d+)\//.exec(stopped)![1]);
  assert.ok(stepAtStop > 0 && stepAtStop < 30, `stopped mid-run (step ${stepAtStop})`);
  await page.click('#resume');
  const done = await waitForStatus(page, /^Done/);
  assert.is(await messageText(page), null, 'no error message');
  assert.match(done, /step 30\/30/);
  assert.match(await page.textContent('#rate') ?? '', /^[\d,]+ examples\/s$/);

  // Evaluation points: steps 0-10 and 20 (dense early), and the epoch ends 15 and 30.
  const points = await seriesPoints(page, 'accuracy-chart');
  assert.equal(points, { 'train-sample': 14, test: 14 }, 'accuracy curves: train and test, no pristine or corrupt without noise');
  assert.is((await seriesPoints(page, 'loss-chart')).run, 13, 'a training-loss point per evaluation after step 0');
  await page.screenshot({ path: path.join(ARTIFACTS, 'browser-training.png'), fullPage: true });

  const rows = (await downloadText(page, 'download-metrics')).trimEnd().split('\n').map((l) => JSON.parse(l));
  const trainSample = rows.filter((r) => r.kind === 'eval' && r.set === 'train-sample');
  const epochs = rows.filter((r) => r.kind === 'epoch') as EpochRow[];
  assert.is(epochs.length, 2);
  assert.equal([trainSample[0].step, trainSample[0].n, trainSample.at(-1).step], [0, 300, 30]);
  assert.ok(trainSample.at(-1).loss < trainSample[0].loss - 0.1, `the loss fell: ${trainSample[0].loss} -> ${trainSample.at(-1).loss}`);
  assert.ok(epochs[1].run_loss < epochs[0].run_loss, 'the training loss fell from epoch 1 to 2');
  const config = JSON.parse(await downloadText(page, 'download-config'));
  assert.equal([config.hidden, config.batchSize, config.seed, config.trainExamples], [[16], 20, 3, 300]);
  const checkpoint = decodeSafetensors(await downloadBytes(page, 'download-checkpoint'), 'the downloaded checkpoint');
  assert.equal(checkpoint.tensors.get('layers.0.weight')?.shape, [16, 784]);
  assert.is(JSON.parse(checkpoint.metadata.cgh).step, 30);
  assert.equal(errors, []);

  // The same settings from the command line, on this machine's adapter: the same numbers up to float
  // rounding. Two different float32 implementations (SwiftShader, the CLI's Vulkan driver) run the same
  // kernels, so losses may differ in the last bits of each of the 30 steps: 1e-4 relative leaves room for
  // that and fails for any difference of data, seed, initialisation or batch order (those move losses by
  // 1e-2 or more). Accuracies may differ by an argmax flip near a tie: at most 2 examples.
  const out = path.join(tmp, 'cli-run');
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'train', '--train-subset', '300', '--test-subset', '1000', '--hidden', '16', '--epochs', '2', '--batch-size', '20', '--lr', '0.1', '--seed', '3', '--out', out], { cwd: ROOT });
  const cli = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).filter((r) => r.kind === 'epoch') as EpochRow[];
  assert.is(cli.length, 2);
  for (let e = 0; e < 2; e++) {
    assert.is(epochs[e].step, cli[e].step);
    for (const k of ['run_loss', 'train_loss', 'test_loss'] as const) {
      const rel = Math.abs(epochs[e][k] - cli[e][k]) / Math.abs(cli[e][k]);
      assert.ok(rel < 1e-4, `epoch ${e + 1} ${k}: page ${epochs[e][k]}, cgh train ${cli[e][k]}`);
    }
    for (const [k, n] of [['run_acc', 300], ['train_acc', 300], ['test_acc', 1000]] as const) {
      assert.ok(Math.abs(epochs[e][k] - cli[e][k]) * n <= 2.001, `epoch ${e + 1} ${k}: page ${epochs[e][k]}, cgh train ${cli[e][k]}`);
    }
  }
  await page.context().close();
});

test('without WebGPU the page says so and what to use instead', async () => {
  const { page } = await openPage(browser, server.url, () => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  const fatal = await page.$eval('#fatal', (e) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
  assert.match(fatal, /no WebGPU/);
  assert.match(fatal, /use a recent Chrome or Edge/);
  assert.match(fatal, /cgh train/);
  assert.is(await page.$eval('#train', (b) => (b as HTMLButtonElement).disabled), true, 'Train is disabled');
  await page.screenshot({ path: path.join(ARTIFACTS, 'browser-no-webgpu.png') });
  await page.context().close();

  // A browser with WebGPU but no adapter for it (Chromium without the SwiftShader flags).
  const plain = await launchChromium(false);
  try {
    const { page: p2 } = await openPage(plain, server.url);
    const noAdapter = await p2.$eval('#fatal', (e) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
    assert.match(noAdapter, /WebGPU found no adapter; enable hardware acceleration in the browser settings or try another browser/);
    assert.is(await p2.$eval('#train', (b) => (b as HTMLButtonElement).disabled), true, 'Train is disabled');
  } finally {
    await plain.close();
  }
});

test('bad input (not IDX, a mismatched pair, a batch larger than the data) gives a message and the page keeps working', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const { images, labels } = randomIdx(new Rng(9), 5);
  const file = pickedFile;
  const good = {
    'file-train-images': file('train-images.gz', gzipSync(images(60))),
    'file-train-labels': file('train-labels', labels(60)),
    'file-test-images': file('test-images', images(20)),
    'file-test-labels': file('test-labels.gz', gzipSync(labels(20))),
  };
  await page.check('input[name=source][value=files]');
  const tryFiles = async (files: Record<string, ReturnType<typeof file>>, settings: Record<string, string>) => {
    for (const [id, f] of Object.entries(files)) await page.setInputFiles(`#${id}`, f);
    await setSettings(page, settings);
    await page.click('#train');
    await page.waitForFunction(() => !document.getElementById('message')!.hidden || /^Done/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    return messageText(page);
  };
  const small = { 'train-subset': '', 'test-subset': '', hidden: '8', epochs: '1', 'batch-size': '10', 'sample-size': '', noise: '0.5' };

  const notIdx = await tryFiles({ ...good, 'file-train-images': file('notes.txt', new TextEncoder().encode('these are not the pixels you are looking for')) }, small);
  assert.match(notIdx ?? '', /^train images \(notes\.txt\): wrong magic number 0x74686573 .*pick MNIST-style IDX files/);
  const mismatched = await tryFiles({ ...good, 'file-train-labels': file('train-labels', labels(59)) }, small);
  assert.match(mismatched ?? '', /has 60 images but .* has 59 labels; use the image and label files of the same split/);
  const tooBig = await tryFiles(good, { ...small, 'batch-size': '100' });
  assert.match(tooBig ?? '', /batch size 100 is larger than the 60 training examples; use a batch size of 60 or less/);
  const badSetting = await tryFiles(good, { ...small, noise: '150' });
  assert.match(badSetting ?? '', /label noise 150 is outside \[0, 1\]/);
  await page.selectOption('#rule', 'm3');
  const badGroups = await tryFiles(good, { ...small, groups: '4' });
  assert.match(badGroups ?? '', /^groups 4 does not split the batch of 10 into equal groups/, 'the rule\'s message, with the setting named as on the page');

  // The same page, with good files: trains to the end, with pristine and corrupt curves under noise
  // (and a gradient rule that needs per-example gradients).
  await page.selectOption('#rule', 'winsorize');
  const ok = await tryFiles(good, { ...small, winsor: '1' });
  assert.is(ok, null, `no message: ${ok}`);
  assert.match(await page.textContent('#status') ?? '', /^Done\. epoch 1\/1 · step 6\/6/);
  const points = await seriesPoints(page, 'accuracy-chart');
  assert.ok(points.pristine >= 2 && points.corrupt >= 2, `pristine and corrupt curves: ${JSON.stringify(points)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'browser-noise-idx-files.png'), fullPage: true });
  assert.equal(errors, []);
  await page.context().close();
});

test.run();

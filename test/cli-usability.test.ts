// What a new user meets first: the progress bar in a narrow terminal, its running loss and whole-run ETA,
// unknown model names, plurals, and the address cgh serve prints.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Progress } from '../cli/progress.js';
import { startServer } from '../cli/serve.js';
import { plural } from '../cli/table.js';
import { CLI, cgh } from './helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-usability-'));

/** A terminal-like sink: records writes, has columns, and can be resized. */
function terminal(columns: number) {
  const out: string[] = [];
  const stream = Object.assign(new EventEmitter(), { columns, isTTY: true, write: (t: string) => { out.push(t); return true; } });
  return { out, stream: stream as unknown as NodeJS.WriteStream, resize: (c: number) => { stream.columns = c; stream.emit('resize'); } };
}

/** Every bar drawn: the text after each "erase line". */
const bars = (text: string) => text.split('\x1b[K').slice(1).map((s) => s.split(/[\r\n]/)[0]).filter((s) => s !== '');

test('progress: the bar never exceeds the terminal width, at any width', () => {
  for (const columns of [20, 30, 40, 50, 60, 80, 120, 200]) {
    const t = terminal(columns);
    const p = new Progress({ stream: t.stream, rateUnit: 'ex/s' });
    p.begin('epoch 3/60', 60000, { done: 120000, total: 3600000 });
    for (const done of [0, 1280, 30000, 59904]) p.update(done, { loss: 0.123456 });
    for (const line of bars(t.out.join(''))) assert.ok(line.length <= columns - 1, `${columns} columns: "${line}"`);
  }
  const wide = terminal(200);
  const p = new Progress({ stream: wide.stream, rateUnit: 'ex/s' });
  p.begin('epoch 2/4', 1000, { done: 1000, total: 4000 });
  p.update(100, { loss: 0.5 });
  const line = p.barLine(performance.now() + 1000, 200);
  assert.match(line, /^epoch 2\/4 \[#*\.*\] 100\/1000 loss 0\.5000$/, 'one update: no rate or ETA yet, since the first update is the baseline');
});

test('progress: the rate leaves out the first update (shader compilation); the ETA covers the whole run', () => {
  const t = terminal(200);
  const p = new Progress({ stream: t.stream, rateUnit: 'ex/s' });
  p.begin('epoch 1/10', 1000, { done: 0, total: 10000 });
  p.update(0);
  assert.match(bars(t.out.join(''))[0], /compiling shaders/);
  const t0 = performance.now();
  p.update(100);
  // Pretend the baseline was 10 s earlier: 100 more examples in 10 s is 10 ex/s, 9800 left in the run is 980 s.
  (p as unknown as { base: { t: number }; runBase: { t: number } }).base.t = t0 - 10000;
  (p as unknown as { base: { t: number }; runBase: { t: number } }).runBase.t = t0 - 10000;
  p.update(200);
  const line = p.barLine(performance.now(), 200);
  const rate = Number(/ (\d+) ex\/s/.exec(line)![1]);
  assert.ok(rate >= 9 && rate <= 10, line);
  const [m, s] = /run eta (\d+):(\d+)/.exec(line)!.slice(1).map(Number);
  assert.ok(Math.abs(m * 60 + s - 980) <= 5, line);
});

test('progress: a resized terminal gets the bar redrawn at the new width', () => {
  const t = terminal(120);
  const p = new Progress({ stream: t.stream, rateUnit: 'ex/s' });
  p.begin('epoch 1/2', 1000, { done: 0, total: 2000 });
  p.update(0);
  const before = t.out.length;
  t.resize(30);
  assert.is(t.out.length, before + 1);
  const last = bars(t.out[t.out.length - 1]);
  assert.ok(last.length === 1 && last[0].length <= 29, last[0]);
  p.close();
  t.resize(100);
  assert.is(t.out.length, before + 2, 'after close only the clearing write, no redraw');
});

test('progress: plain lines off a terminal carry the loss and the run ETA', () => {
  const out: string[] = [];
  const p = new Progress({ stream: { write: (s: string) => { out.push(s); return true; } } as unknown as NodeJS.WriteStream, tty: false, plainEvery: 0, rateUnit: 'ex/s' });
  p.begin('epoch 1/2', 100, { done: 0, total: 200 });
  p.update(10, { loss: 2.3 });
  p.update(50, { loss: 1.5 });
  assert.match(out[out.length - 1], /^epoch 1\/2: 50\/100, loss 1\.5000, \d+ ex\/s, 0:00 elapsed, run eta \d+:\d\d\n$/);
});

test('cgh train in a 40-column terminal (a pty): no bar line wraps, evaluation has a bar; "after 1 epoch"', () => {
  const out = path.join(tmp, 'narrow');
  const args = ['train', '--hidden', '8', '--train-subset', '2000', '--test-subset', '100', '--batch-size', '50', '--epochs', '1', '--log-every', '4', '--out', out];
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', `stty cols 40 rows 20; ${quoted}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, CGH_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.is(r.status, 0, r.stdout + r.stderr);
  // Bars, not the table rows printed after clearing one (those are ordinary lines, wrapped by the terminal).
  const drawn = bars(r.stdout).filter((l) => /^epoch \d+\/\d+/.test(l));
  assert.ok(drawn.some((l) => l.startsWith('epoch 1/1')), r.stdout);
  for (const l of drawn) assert.ok(l.length <= 39, `"${l}" is ${l.length} characters`);
  assert.ok(drawn.some((l) => / loss \d/.test(l)), `the running loss is shown: ${JSON.stringify(drawn)}`);
  // The end-of-epoch evaluation (2,000 training + 100 test examples) has its own bar, fitted too.
  const evaluating = bars(r.stdout).filter((l) => l.startsWith('evaluating epoch 1'));
  assert.ok(evaluating.some((l) => /\b\d+\/2100\b/.test(l)), JSON.stringify(bars(r.stdout)));
  for (const l of evaluating) assert.ok(l.length <= 39, `"${l}" is ${l.length} characters`);
  assert.match(r.stdout, /done: test accuracy [\d.]+% after 1 epoch;/);
});

test('cgh train --model resnet: exit 2 with a suggestion from the registered names', () => {
  const r = cgh(['train', '--model', 'resnet', '--out', path.join(tmp, 'never')]);
  assert.is(r.code, 2);
  assert.is(r.errLines.length, 1, r.stderr);
  assert.match(r.errLines[0], /^cgh: unknown --model "resnet"; did you mean resnet18\? \(known: mlp, .*resnet20.*\)$/);
  assert.ok(!fs.existsSync(path.join(tmp, 'never')));
  const far = cgh(['train', '--model', 'transformer']);
  assert.is(far.code, 2);
  assert.not.match(far.errLines[0], /did you mean/);
  assert.equal([plural(1, 'epoch'), plural(2, 'epoch'), plural(0, 'epoch')], ['1 epoch', '2 epochs', '0 epochs']);
});

test('cgh serve --host 0.0.0.0 prints the loopback URL, which answers', async () => {
  const server = await startServer({ port: 0, host: '0.0.0.0' });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const status = await new Promise<number>((resolve, reject) => {
      http.get(server.url, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    assert.is(status, 200);
  } finally {
    await server.close();
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

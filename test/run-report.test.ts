// Curves of any run folder: cgh train's rows (epoch and logged steps) and an experiment run's evaluation rows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isRunFolder, runCurves, RunReportError, writeRunReport } from '../experiments/report/run-curves.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-run-report-'));

const epochRow = (epoch: number) => ({
  kind: 'epoch', epoch, step: 10 * epoch, lr: 0.1 / epoch, run_loss: 2 / epoch, run_acc: 0.5, train_loss: 1.5 / epoch, train_acc: 0.6,
  test_loss: 1.6 / epoch, test_acc: 0.55, examples_per_s: 1000 + epoch, elapsed_s: epoch,
});

test('runCurves: cgh train rows give loss and accuracy per set, logged steps at their fraction of an epoch, lr and examples/s', () => {
  const rows = [
    { kind: 'step', epoch: 1, step: 5, lr: 0.1, loss: 2.2, acc: 0.3 },
    epochRow(1),
    { kind: 'step', epoch: 2, step: 15, lr: 0.05, loss: 1.1, acc: 0.5 },
    epochRow(2),
  ];
  const c = runCurves(rows);
  assert.equal([...c.loss.keys()], ['logged steps', 'training steps (epoch mean)', 'train', 'test']);
  assert.equal(c.loss.get('logged steps'), [[0.5, 2.2], [1.5, 1.1]]);
  assert.equal(c.loss.get('test'), [[1, 1.6], [2, 0.8]]);
  assert.equal(c.acc.get('train'), [[1, 0.6], [2, 0.6]]);
  assert.equal(c.lr.get('learning rate'), [[0.5, 0.1], [1, 0.1], [1.5, 0.05], [2, 0.05]]);
  assert.equal(c.rate.get('examples/s'), [[1, 1001], [2, 1002]]);
});

test('runCurves: an experiment run\'s evaluation rows give a curve per evaluated set', () => {
  const rows = [
    { kind: 'eval', step: 0, epoch: 0, set: 'pristine', loss: 2.3, acc: 0.1, n: 5 },
    { kind: 'eval', step: 0, epoch: 0, set: 'corrupt', loss: 2.4, acc: 0.05, n: 5 },
    { kind: 'eval', step: 2, epoch: 0.5, set: 'pristine', loss: 2.0, acc: 0.3, n: 5 },
    { kind: 'epoch', epoch: 1, step: 4, lr: 0.1, run_loss: 2.1, run_acc: 0.2, examples_per_s: 10, elapsed_s: 1 },
  ];
  const c = runCurves(rows);
  assert.equal(c.acc.get('pristine'), [[0, 0.1], [0.5, 0.3]]);
  assert.equal(c.acc.get('corrupt'), [[0, 0.05]]);
  assert.equal(c.acc.get('training steps (epoch mean)'), [[1, 0.2]]);
});

test('writeRunReport: report.html with four figures and the epochs CSV; a torn last line is no row; bad JSON is one line', () => {
  const dir = path.join(tmp, 'run');
  fs.mkdirSync(dir);
  assert.is(isRunFolder(dir), false);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ command: 'train', model: 'mlp', hidden: [8], dataset: 'mnist', epochs: 3, resume: false }));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${JSON.stringify(epochRow(1))}\n${JSON.stringify(epochRow(2))}\n{"kind":"ep`);
  assert.is(isRunFolder(dir), true);
  const file = writeRunReport(dir);
  const html = fs.readFileSync(file, 'utf8');
  assert.is((html.match(/<svg /g) ?? []).length, 4);
  for (const title of ['Loss', 'Accuracy', 'Learning rate', 'Throughput']) assert.ok(html.includes(`aria-label="${title}"`), title);
  assert.ok(html.includes('cgh train --model mlp --hidden 8 --dataset mnist --epochs 3 --out'), 'the command giving the config back');
  const csv = fs.readFileSync(path.join(dir, 'run-epochs.csv'), 'utf8').trim().split('\n');
  assert.is(csv.length, 3);
  assert.is(csv[0].split(',')[0], 'epoch');
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${JSON.stringify(epochRow(1))}\nnot json\n`);
  assert.throws(() => writeRunReport(dir), (e: Error) => e instanceof RunReportError && /metrics\.jsonl line 2 is not JSON/.test(e.message));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

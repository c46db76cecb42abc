import { test } from 'uvu';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgh } from './helpers/cli.js';
import { makeImageFolder } from './helpers/image-folder.js';

// An ImageNet-like folder through the whole path: cgh prepare -> shards -> cgh train / cgh experiment -> report.
const tmp = mkdtempSync(join(tmpdir(), 'cgh-imagenet-e2e-'));
const data = join(tmp, 'data');
let trainN = 0;
test.before(async () => {
  trainN = (await makeImageFolder(join(tmp, 'src'), 10, 8, 30)).train.length;
  const r = cgh(['prepare', join(tmp, 'src'), '--out', data, '--resize', '16', '--crop', '12']);
  if (r.code !== 0) throw new Error(`prepare: ${r.errLines.join(' | ')}`);
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const rows = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('cgh train --dataset imagefolder trains from the shards and reports top-1 and top-5 on the val split', () => {
  const out = join(tmp, 'run');
  const r = cgh(['train', '--dataset', 'imagefolder', '--data-dir', data, '--model', 'mlp', '--hidden', '32', '--epochs', '2', '--batch-size', '8',
    '--out', out]);
  if (r.code !== 0) throw new Error(`train: ${r.errLines.join(' | ')}`);
  if (!r.stdout.includes(`${trainN} training and 30 test examples`) || !/test top-5/.test(r.stdout)) throw new Error(`train output: ${r.stdout}`);
  const epochs = rows(join(out, 'metrics.jsonl')).filter((x) => x.kind === 'epoch');
  if (epochs.length !== 2) throw new Error(`${epochs.length} epoch rows`);
  for (const e of epochs) {
    for (const k of ['train', 'test']) {
      const acc = e[`${k}_acc`], top5 = e[`${k}_top5`];
      const n = k === 'test' ? 30 : trainN;
      if (!(top5 >= acc && top5 <= 1) || Math.abs(top5 * n - Math.round(top5 * n)) > 1e-6) throw new Error(`${k}: acc ${acc}, top5 ${top5}`);
    }
  }
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  if (config.trainExamples !== trainN || config.testExamples !== 30) throw new Error(`config ${config.trainExamples} / ${config.testExamples}`);
});

test('the label-noise experiment on the prepared folder: evaluation sets with top-5, capped samples, and a report with the top-5 column', () => {
  const out = join(tmp, 'exp');
  // Evaluated as the paper preset does: before each epoch and after the last (no dense schedule).
  const r = cgh(['experiment', 'label-noise', '--preset', 'tiny', '--dataset', 'imagefolder', '--data-dir', data, '--train-size', String(trainN),
    '--test-size', '30', '--noise', '0,50%', '--batch-size', '8', '--epochs', '2', '--sample-size', '40', '--dense-eval=false', '--out', out]);
  if (r.code !== 0) throw new Error(`experiment: ${r.errLines.join(' | ')}`);
  for (const run of ['noise-0', 'noise-50']) {
    const evals = rows(join(out, run, 'metrics.jsonl')).filter((x) => x.kind === 'eval');
    const sets = new Set(evals.map((e) => e.set));
    for (const s of ['train-sample', 'pristine', 'test', ...(run === 'noise-50' ? ['corrupt'] : [])]) if (!sets.has(s)) throw new Error(`${run}: no ${s} rows`);
    for (const e of evals) {
      if (!(e.top5 >= e.acc && e.top5 <= 1)) throw new Error(`${run} ${e.set} step ${e.step}: acc ${e.acc}, top5 ${e.top5}`);
      if (e.set !== 'train' && e.set !== 'test' && e.n > 40) throw new Error(`${run} ${e.set} holds ${e.n} examples, above the cap of 40`);
    }
    // Evaluated before the first epoch and after each one.
    const steps = [...new Set(evals.filter((e) => e.set === 'test').map((e) => e.epoch))];
    if (steps.join() !== '0,1,2') throw new Error(`${run}: test evaluated at epochs ${steps}`);
  }
  // The report's label-noise table (also written as CSV) has a test top-5 column filled for each noise level.
  const [head, ...lines] = readFileSync(join(out, 'label-noise-summary.csv'), 'utf8').trim().split('\n');
  const col = head.split(',').findIndex((c) => c.includes('test top-5'));
  if (col < 0 || lines.length !== 2 || !lines.every((l) => /^\d+(\.\d)?%$/.test(l.split(',')[col]))) throw new Error(`summary CSV: ${head} / ${lines}`);
  if (!readFileSync(join(out, 'report.html'), 'utf8').includes('test top-5')) throw new Error('report.html lacks the top-5 column');
});

test('--preset paper states its cost and asks for a prepared ImageNet folder', () => {
  const help = cgh(['experiment', 'label-noise', '--help']);
  if (!/label-noise\s+5 runs x 90 epochs\s+= 577 M images/.test(help.stdout)) throw new Error(`help: ${help.stdout}`);
  const r = cgh(['experiment', 'label-noise', '--preset', 'paper', '--out', join(tmp, 'paper')]);
  if (r.code !== 2 || r.errLines.length !== 1 || !/--preset paper needs --data-dir DIR .*cgh prepare/.test(r.errLines[0])) {
    throw new Error(`${r.code} ${r.errLines}`);
  }
  const bad = cgh(['train', '--dataset', 'imagefolder', '--data-dir', join(tmp, 'src'), '--epochs', '1']);
  if (bad.code !== 1 || bad.errLines.length !== 1 || !/index\.json \(ENOENT\); give a folder made by cgh prepare/.test(bad.errLines[0])) {
    throw new Error(`${bad.code} ${bad.errLines}`);
  }
});

test.run();

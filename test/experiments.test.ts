// Experiment machinery without the GPU: label noise, evaluation sets and schedule, per-example records,
// easy/hard splits, difficulty counts, and reports built from hand-written run folders.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../engine/random.js';
import { applyLabelNoise, countCorrupt, expectedCorruptFraction, parseNoiseLevel, parseNoiseLevels } from '../experiments/run/label-noise.js';
import { defaultSampleSize, drawEvalSets, isScheduledStep, scheduledSteps, subsetMetrics } from '../experiments/run/eval-sets.js';
import { ExampleRecords } from '../experiments/run/example-records.js';
import { classifyEasyHard, defaultSplitSizes, drawSplits, validateSplitSizes } from '../experiments/protocols/easy-hard.js';
import { accuracyByDifficulty, difficultyOf } from '../experiments/protocols/difficulty.js';
import { presetSettings } from '../experiments/protocols/presets.js';
import { learningRate } from '../experiments/run/schedule.js';
import { writeReport } from '../experiments/report/index.js';
import { niceTicks } from '../experiments/report/svg.js';

const K = 10;

function cleanLabels(n: number, seed = 1): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(K));
}

test('label noise: corrupt fraction is close to p(1 - 1/K); pristine and corrupt are disjoint and correct', () => {
  const n = 20000;
  const labels = cleanLabels(n);
  for (const p of [0, 0.25, 0.5, 1]) {
    const noisy = applyLabelNoise(labels, p, K, new Rng(7));
    const q = expectedCorruptFraction(p, K);
    const frac = countCorrupt(noisy) / n;
    // Binomial standard deviation is at most sqrt(0.25 / 20000) = 0.0035; allow 4 of them.
    assert.ok(Math.abs(frac - q) <= 0.015, `p=${p}: corrupt fraction ${frac}, expected ${q}`);
    for (let i = 0; i < n; i++) {
      assert.is(noisy.original[i], labels[i]);
      assert.ok(noisy.labels[i] >= 0 && noisy.labels[i] < K);
      assert.is(noisy.corrupt[i] === 1, noisy.labels[i] !== labels[i], `example ${i}: corrupt flag disagrees with the labels`);
    }
  }
  assert.is(countCorrupt(applyLabelNoise(labels, 0, K, new Rng(3))), 0);
});

test('label noise: corrupt examples nest across levels with one seed, and replacement labels are uniform over the other classes', () => {
  const labels = cleanLabels(20000, 2);
  const low = applyLabelNoise(labels, 0.25, K, new Rng(9));
  const high = applyLabelNoise(labels, 0.75, K, new Rng(9));
  for (let i = 0; i < labels.length; i++) if (low.corrupt[i]) assert.is(high.labels[i], low.labels[i]);
  const shift = new Array(K).fill(0);
  for (let i = 0; i < labels.length; i++) if (high.corrupt[i]) shift[(high.labels[i] - labels[i] + K) % K]++;
  const total = shift.reduce((a, b) => a + b, 0);
  assert.is(shift[0], 0);
  // Each of the 9 shifts should hold about 1/9; 13,500 corrupt examples give a std of about 0.0025.
  for (let s = 1; s < K; s++) assert.ok(Math.abs(shift[s] / total - 1 / 9) < 0.015, `shift ${s}: ${shift[s] / total}`);
});

test('noise levels parse as fractions or percentages, and bad ones are one-line errors', () => {
  assert.is(parseNoiseLevel('0.25'), 0.25);
  assert.is(parseNoiseLevel('25%'), 0.25);
  assert.equal(parseNoiseLevels('0,50%,1'), [0, 0.5, 1]);
  assert.throws(() => parseNoiseLevel('50'), /outside \[0, 1\].*50%/);
  assert.throws(() => parseNoiseLevel('150%'), /outside 0-100%/);
  assert.throws(() => parseNoiseLevel('-0.1'), /outside \[0, 1\]/);
  assert.throws(() => parseNoiseLevel('abc'), /not a number/);
  assert.throws(() => applyLabelNoise(new Int32Array(3), 1.5, K, new Rng(1)), /outside \[0, 1\]/);
});

test('evaluation sets: seeded samples of pristine, corrupt and all training examples', () => {
  const labels = cleanLabels(5000, 4);
  const noisy = applyLabelNoise(labels, 0.5, K, new Rng(5));
  const sets = drawEvalSets(noisy, 1000, new Rng(6));
  assert.is(sets.trainSample.length, 1000);
  assert.is(sets.pristine.length, 1000);
  assert.is(sets.corrupt.length, 1000);
  for (const i of sets.pristine) assert.is(noisy.corrupt[i], 0);
  for (const i of sets.corrupt) assert.is(noisy.corrupt[i], 1);
  const again = drawEvalSets(noisy, 1000, new Rng(6));
  assert.equal([...again.corrupt], [...sets.corrupt]);
  // Fewer corrupt examples than N: all of them.
  const light = applyLabelNoise(labels, 0.1, K, new Rng(5));
  const few = drawEvalSets(light, 1000, new Rng(6));
  assert.is(few.corrupt.length, countCorrupt(light));
  assert.is(defaultSampleSize(1_281_167), 50_000);
  assert.is(defaultSampleSize(60_000), 2342);
  assert.is(defaultSampleSize(500), 500);
  const m = subsetMetrics(Float32Array.of(1, 2, 3, 4), Uint8Array.of(1, 0, 1, 1), Uint8Array.of(1, 1, 0, 1), Int32Array.of(1, 3));
  assert.equal(m, { loss: 3, acc: 0.5, top5: 1, n: 2 });
});

test('evaluation schedule: every step to 9, every 10 to 90, every 100 to 900, and every epoch end', () => {
  const spe = 25;
  const want = new Set<number>();
  for (let s = 0; s < 10; s++) want.add(s);
  for (let s = 10; s < 100; s += 10) want.add(s);
  for (let s = 100; s < 1000; s += 100) want.add(s);
  want.add(1000);
  for (let s = 0; s <= 1010; s += spe) want.add(s);
  assert.equal(scheduledSteps(spe, 1010), [...want].sort((a, b) => a - b));
  assert.ok(!isScheduledStep(11, spe));
  assert.ok(isScheduledStep(3000, 7));
  assert.ok(!isScheduledStep(3, spe, false));
  assert.ok(isScheduledStep(50, spe, false));
});

test('per-example records keep the first and last correct step', () => {
  const r = new ExampleRecords(4);
  r.update(0, Uint8Array.of(1, 0, 0, 0));
  r.update(5, Uint8Array.of(0, 1, 0, 1));
  r.update(10, Uint8Array.of(1, 1, 0, 0));
  assert.equal([...r.first], [0, 5, -1, 5]);
  assert.equal([...r.last], [10, 10, -1, 5]);
  assert.equal([...r.correctAtLatest()], [1, 1, 0, 0]);
  assert.is(r.fractionLearnedBy(5), 0.75);
  const copy = new ExampleRecords(4);
  assert.ok(copy.loadTensors(new Map(r.toTensors().map((t) => [t.name, t]))));
  assert.equal([...copy.first], [...r.first]);
  assert.is(copy.latestStep, 10);
  assert.throws(() => r.update(3, new Uint8Array(4)), /earlier step/);
});

test('easy/hard: classification, default 5:1 split sizes, disjoint draws, and sizes beyond the available examples refused', () => {
  const correct = Uint8Array.of(1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1);
  const { easy, hard } = classifyEasyHard(correct);
  assert.equal([...easy], [0, 1, 3, 6, 9, 10, 13]);
  assert.equal([...hard], [2, 4, 5, 7, 8, 11, 12]);
  assert.equal(defaultSplitSizes(600_000, 680_000), { easyTrain: 500_000, easyTest: 100_000, hardTrain: 500_000, hardTest: 100_000 });
  const sizes = defaultSplitSizes(easy.length, hard.length, { hardTest: 1 });
  assert.equal(sizes, { easyTrain: 5, easyTest: 2, hardTrain: 5, hardTest: 1 });
  const s = drawSplits(easy, hard, sizes, new Rng(3));
  const all = [...s.eTrain, ...s.eTest, ...s.hTrain, ...s.hTest];
  assert.is(new Set(all).size, all.length, 'splits overlap');
  for (const i of [...s.eTrain, ...s.eTest]) assert.ok(correct[i] === 1);
  for (const i of [...s.hTrain, ...s.hTest]) assert.ok(correct[i] === 0);
  assert.is(s.eTest.length, 2);
  assert.throws(() => validateSplitSizes({ ...sizes, easyTrain: 6 }, easy.length, hard.length), /--easy-train 6 plus --easy-test 2 is more than the 7 easy examples/);
  assert.throws(() => validateSplitSizes({ ...sizes, hardTest: 3 }, easy.length, hard.length), /more than the 7 hard examples/);
});

test('difficulty: counts of hard classifications and accuracy per level on a hand-made case', () => {
  // 6 examples, 3 classifications (1 = hard).
  const masks = [Uint8Array.of(0, 1, 1, 0, 1, 0), Uint8Array.of(0, 1, 0, 0, 1, 1), Uint8Array.of(0, 1, 1, 0, 0, 0)];
  const d = difficultyOf(masks);
  assert.equal([...d], [0, 3, 2, 0, 2, 1]);
  const rows = accuracyByDifficulty(d, Uint8Array.of(1, 0, 1, 1, 0, 1), 3);
  assert.equal(rows.map((r) => [r.difficulty, r.count, r.correct]), [[0, 2, 2], [1, 1, 1], [2, 2, 1], [3, 1, 0]]);
  assert.equal(rows.map((r) => r.accuracy), [1, 1, 0.5, 0]);
});

test('presets: protocol choices per experiment, unknown preset refused', () => {
  assert.is(presetSettings('paper', 'label-noise').model, 'resnet18');
  assert.is(presetSettings('paper', 'label-noise').batchSize, 256);
  assert.is(presetSettings('paper', 'suppression').momentum, 0);
  assert.is(presetSettings('paper', 'winsorize').batchSize, 32);
  assert.is(presetSettings('paper', 'winsorize').model, 'resnet32');
  const w = presetSettings('paper', 'winsorize');
  assert.equal([learningRate(w, 0), learningRate(w, 26), learningRate(w, 51)].map((x) => +x.toPrecision(6)), [0.1, 0.01, 0.0001]);
  assert.is(presetSettings('paper', 'label-noise', { model: 'vgg13' }).schedule, 'cosine');
  assert.is(presetSettings('paper', 'label-noise', { model: 'vgg13', schedule: 'step' }).schedule, 'step');
  assert.is(presetSettings('mnist', 'label-noise', { lr: 0.05, epochs: undefined }).lr, 0.05);
  assert.throws(() => presetSettings('imagenet', 'label-noise'), /unknown preset "imagenet"; use --preset paper\|mnist/);
  assert.equal(niceTicks(0, 100), [0, 20, 40, 60, 80, 100]);
});

// ---- reports from hand-written run folders ----

interface Curve { set: string; acc: number[]; loss?: number[] }

/** A run folder; `summary` null leaves it unfinished (no summary.json). */
function writeRun(root: string, name: string, config: Record<string, unknown>, curves: Curve[],
  summary: Record<string, unknown> | null = { status: 'completed' }): void {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ run: name, model: 'mlp', hidden: [8], dataset: 'mnist', batchSize: 10, lr: 0.1, momentum: 0, ...config }));
  const rows: string[] = [];
  const epochs = curves[0].acc.length;
  for (let e = 0; e < epochs; e++) {
    for (const c of curves) rows.push(JSON.stringify({ kind: 'eval', step: e * 10, epoch: e, set: c.set, loss: c.loss?.[e] ?? 2 - c.acc[e], acc: c.acc[e], n: 100 }));
  }
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), rows.join('\n') + '\n');
  if (summary) fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-report-'));
}

function checkLine(html: string, prediction: string): string {
  const at = html.indexOf(`Paper: ${prediction}`);
  assert.ok(at >= 0, `no check "${prediction}"`);
  return html.slice(at, html.indexOf('</div></div>', at));
}

/** A logistic curve from 0.1 to `end`, halfway at `mid`, over `n` evaluations, shifted by `shift`. */
function rising(end: number, mid: number, n: number, shift = 0): number[] {
  return Array.from({ length: n }, (_, e) => Math.min(1, Math.max(0, 0.1 + (end - 0.1) / (1 + Math.exp(-(e - mid) / 2)) + shift)));
}

const SHIFTS = [-0.01, 0, 0.012];

test('label-noise report: seed means and bands, ordered colours, log axis, verdicts with premises, unfinished runs without a verdict', () => {
  const root = tmpDir();
  fs.writeFileSync(path.join(root, 'experiment.json'), JSON.stringify({ experiment: 'label-noise', preset: 'tiny', settings: { epochs: 30 },
    options: { noise: [0, 0.5, 1], seeds: 3 }, command: 'cgh experiment label-noise --preset tiny' }));
  const level = (p: number, memorised: boolean) => SHIFTS.forEach((shift, k) => {
    const curves: Curve[] = [
      { set: 'train-sample', acc: rising(1, 4 + 8 * p, 31, shift) },
      { set: 'test', acc: rising(0.9 - 0.6 * p, 3, 31, shift).map((a, e) => a - (e > 10 ? 0.3 * p * Math.min(1, (e - 10) / 20) : 0)) },
    ];
    if (p < 1) curves.push({ set: 'pristine', acc: rising(1, 3 + 8 * p, 31, shift) });
    if (p > 0) curves.push({ set: 'corrupt', acc: rising(memorised ? 1 : 0.5, 12, 31, shift) });
    writeRun(root, k ? `noise-${p * 100}-seed${k}` : `noise-${p * 100}`, { noise: p, seed: k }, curves,
      p === 1 && k === 2 ? null : { status: 'completed' });
  });
  level(0, true);
  level(0.5, false);
  level(1, true);
  const html = fs.readFileSync(writeReport(root), 'utf8');
  for (const label of ['train, 0% noise', 'test, 50% noise', 'pristine, 50% noise', 'corrupt, 50% noise']) {
    assert.ok(html.includes(`data-label="${label}"`), `missing series ${label}`);
  }
  assert.ok(!html.includes('data-label="corrupt, 0% noise"'), 'a series without data has no line and no legend entry');
  assert.ok(html.includes('>epoch (log scale)<') && html.includes('class="band"'), 'log axis and seed bands');
  assert.ok(html.includes('stroke="#440154"'), 'the lowest noise level takes the dark end of the ordered palette');
  const pristine = checkLine(html, 'With more noise (fewer pristine examples sharing the signal) the pristine examples are learned more slowly.');
  assert.ok(pristine.includes('This run: no verdict') && pristine.includes('noise-100-seed2 (unfinished)'), pristine);
  assert.ok(html.includes('Unfinished (curves partial, no verdict from them yet): noise-100-seed2'));
  // Without the unfinished run: corrupt examples at 50% were never memorised, so overfitting cannot be judged.
  fs.writeFileSync(path.join(root, 'noise-100-seed2', 'summary.json'), JSON.stringify({ status: 'completed' }));
  const done = fs.readFileSync(writeReport(root), 'utf8');
  const over = checkLine(done, 'Overfitting is benign');
  assert.ok(over.includes('This run: cannot tell') && over.includes('Premise not met'), over);
  assert.ok(checkLine(done, 'With more noise (fewer pristine').includes('This run: agrees'));
  assert.ok(done.includes('MNIST (the embedded copy)'), 'the dataset is named');
  const csv = fs.readFileSync(path.join(root, 'label-noise-summary.csv'), 'utf8').trim().split('\n');
  assert.is(csv.length, 4);
  assert.ok(csv[2].startsWith('50%,3,3,'), csv[2]);
  assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(done), 'the page links nothing external');
});

test('suppression and anti-adversarial reports: the paper\'s grid, verdicts over seeds, dead units void a premise, a linked summary', () => {
  const root = tmpDir();
  const sup = path.join(root, 'suppression');
  fs.mkdirSync(sup);
  fs.writeFileSync(path.join(sup, 'experiment.json'), JSON.stringify({ experiment: 'suppression', preset: 'tiny', settings: { epochs: 30 },
    options: { rules: ['sgd', 'rm3'], noise: [0.5], seeds: 3 }, command: 'cgh experiment suppression' }));
  SHIFTS.forEach((shift, k) => {
    const suffix = k ? `-seed${k}` : '';
    writeRun(sup, `sgd-noise-50${suffix}`, { rule: 'sgd', noise: 0.5, seed: k }, [{ set: 'train-sample', acc: rising(1, 8, 31, shift) },
      { set: 'pristine', acc: rising(1, 4, 31, shift) }, { set: 'corrupt', acc: rising(1, 10, 31, shift) }, { set: 'test', acc: rising(0.5, 4, 31, shift) }]);
    writeRun(sup, `rm3-noise-50${suffix}`, { rule: 'rm3', noise: 0.5, seed: k }, [{ set: 'train-sample', acc: rising(0.8, 12, 31, shift) },
      { set: 'pristine', acc: rising(1, 5, 31, shift) }, { set: 'corrupt', acc: rising(0.6, 20, 31, shift) },
      { set: 'test', acc: rising(0.55, 4, 31, shift) }]);
  });
  const anti = path.join(root, 'anti-adversarial');
  fs.mkdirSync(anti);
  fs.writeFileSync(path.join(anti, 'experiment.json'), JSON.stringify({ experiment: 'anti-adversarial', preset: 'tiny', settings: {},
    options: { target: 1, goal: 0.9 }, command: 'cgh experiment anti-adversarial' }));
  writeRun(anti, 'pretrain', {}, [{ set: 'train', acc: [0.1, 0.9, 1] }], { status: 'stopped', stop: { set: 'train', acc: 1, step: 20, epoch: 2 } });
  const dead = { status: 'stopped', deadFraction: 0.6, deadUnits: { dead: 6, units: 10, examples: 100, layers: [] } };
  writeRun(anti, 'noisy-from-pretrained', { noise: 1 }, [{ set: 'train', acc: rising(1, 6, 20) }], dead);
  writeRun(anti, 'noisy-from-scratch', { noise: 1 }, [{ set: 'train', acc: rising(1, 12, 20) }]);
  const html = fs.readFileSync(writeReport(root), 'utf8');
  const mem = checkLine(html, 'At 50% noise, RM3 memorises the noisy labels more slowly than SGD');
  assert.ok(mem.includes('This run: agrees') && mem.includes('(3 seeds)') && mem.includes('Premise met'), mem);
  assert.ok(html.includes('Figure 3: pristine (solid) and corrupt (dashed) accuracy') && html.includes('class="grid"'), 'the paper\'s grid');
  const aa = checkLine(html, 'Starting from weights trained on clean labels');
  assert.ok(aa.includes('This run: cannot tell') && aa.includes('dead units 60.0%'), aa);
  assert.ok(html.includes('60.0% (6 of 10)'), 'dead units in the table');
  assert.ok(/<tr class="agrees"><td><a href="#suppression-grid-1">/.test(html), 'summary rows link to their panel and are coloured');
  assert.ok(html.includes('counted checks agree with the paper'));
  assert.ok(html.indexOf('id="suppression"') < html.indexOf('id="anti-adversarial"'), 'sections follow the paper\'s order');
});

test.run();

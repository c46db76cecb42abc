import { test } from 'uvu';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRunRecord } from '../experiments/verdicts/load.js';
import { suppressionVerdicts } from '../experiments/verdicts/suppression.js';
import { labelNoiseVerdicts } from '../experiments/verdicts/label-noise.js';
import { winsorizeVerdicts } from '../experiments/verdicts/winsorize.js';
import { difficultyVerdicts, type DifficultyRun } from '../experiments/verdicts/difficulty.js';
import { antiAdversarialVerdicts } from '../experiments/verdicts/anti-adversarial.js';
import { easyHardVerdicts } from '../experiments/verdicts/easy-hard.js';
import { tally, type RunRecord, type Verdict } from '../experiments/verdicts/verdict.js';
import { leastSquaresSlope } from '../experiments/verdicts/stats.js';
import { buildSections } from '../experiments/report/index.js';

const EPOCHS = 40;
const N = 500;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-verdicts-'));

/** Sets' accuracy as a function of the epoch: a logistic rise from `start` to `end`, centred at `mid`. */
function rise(end: number, mid: number, start = 0.1): (e: number) => number {
  return (e) => start + (end - start) / (1 + Math.exp(-(e - mid) / 3));
}

/**
 * Writes a synthetic run folder (config.json, metrics.jsonl with eval rows at every epoch, summary.json
 * when finished) and reads it back the way a report does. `wobble` shifts this seed's curves.
 */
interface RunOptions { finished?: boolean; epochs?: number; wobble?: number; dead?: number }

function run(name: string, seed: number, sets: Record<string, (e: number) => number>, opts: RunOptions = {}): RunRecord {
  const dir = path.join(root, `${name}-seed${seed}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ seed }));
  const lines: string[] = [];
  const last = opts.epochs ?? EPOCHS;
  for (let epoch = 0; epoch <= last; epoch++) {
    for (const [set, f] of Object.entries(sets)) {
      const acc = Math.min(1, Math.max(0, f(epoch) + (opts.wobble ?? 0)));
      lines.push(JSON.stringify({ kind: 'eval', step: epoch * 20, epoch, set, loss: 1 - acc, acc: Math.round(acc * N) / N, n: N }));
    }
    if (epoch > 0) lines.push(JSON.stringify({ kind: 'epoch', epoch, step: epoch * 20, lr: 0.1, run_loss: 0, run_acc: 0, examples_per_s: 1, elapsed_s: 1 }));
  }
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  const summary = { status: 'completed', ...(opts.dead !== undefined ? { deadFraction: opts.dead } : {}) };
  if (opts.finished ?? true) fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
  return loadRunRecord(dir)!;
}

const seeds = [0, 1, 2];
const wobbles = [-0.01, 0, 0.012];
/** One condition over three seeds whose curves differ slightly. */
function cond(name: string, sets: Record<string, (e: number) => number>, opts: { finished?: boolean; dead?: number } = {}): RunRecord[] {
  return seeds.map((s, i) => run(name, s, sets, { ...opts, wobble: wobbles[i] }));
}

function only(vs: Verdict[], id: string): Verdict {
  const v = vs.find((x) => x.id === id);
  if (!v) throw new Error(`no verdict ${id} among ${vs.map((x) => x.id)}`);
  return v;
}

function expect(v: Verdict, outcome: Verdict['outcome'], why: string): void {
  if (process.env.SHOW_VERDICTS) console.log(`${v.id}: ${v.outcome} — ${v.text}`);
  if (v.outcome !== outcome) throw new Error(`${why}: ${v.id} is ${v.outcome}, expected ${outcome} (${v.text})`);
  if (!v.rule || (outcome !== null && Object.keys(v.evidence).length === 0)) throw new Error(`${v.id} lacks its rule or evidence`);
}

test('least-squares slope and its standard error match a hand computation', () => {
  const s = leastSquaresSlope([0, 1, 2, 3], [1, 3, 2, 5]);
  // x mean 1.5, y mean 2.75; Sxy = 5.5, Sxx = 5, so slope 1.1; se = sqrt(rss / (n - 2) / Sxx).
  if (Math.abs(s.slope - 1.1) > 1e-12) throw new Error(`slope ${s.slope}`);
  const fitted = [0, 1, 2, 3].map((x) => 2.75 + 1.1 * (x - 1.5));
  const rss = [1, 3, 2, 5].reduce((a, y, i) => a + (y - fitted[i]) ** 2, 0);
  if (Math.abs(s.se - Math.sqrt(rss / 2 / 5)) > 1e-12) throw new Error(`se ${s.se}`);
  const w = leastSquaresSlope([0, 1], [0, 1], [0.1, 0.1]);
  if (Math.abs(w.slope - 1) > 1e-12 || Math.abs(w.se - Math.sqrt(1 / (100 * 0.5))) > 1e-12) throw new Error(`weighted ${JSON.stringify(w)}`);
});

test('suppression: a failing premise, a difference inside the margin, clear effects both ways, an unfinished run', () => {
  const fast = { corrupt: rise(1, 12), pristine: rise(1, 4), 'train-sample': rise(1, 8), test: rise(0.6, 4) };
  const slow = { ...fast, corrupt: rise(0.97, 24) };
  const barely = { ...fast, corrupt: rise(1, 12.4) };
  const noMemory = { ...fast, corrupt: rise(0.35, 20) };
  const sgd = cond('sgd', fast), rm3 = cond('rm3', slow), ra3 = cond('ra3', barely), m3 = cond('m3', fast);

  const clear = suppressionVerdicts(0.5, { sgd, rm3, ra3, m3 }, EPOCHS);
  expect(only(clear, 'suppression-rm3-0.5'), 'agrees', 'RM3 memorises much more slowly');
  expect(only(clear, 'suppression-ra3-0.5'), 'agrees', 'RA3 like SGD, RM3 slower');
  // M3 is as fast as SGD here, faster than RM3: the paper predicts the opposite.
  expect(only(clear, 'suppression-m3-0.5'), 'disagrees', 'M3 memorises faster than RM3');

  // A curve shifted by 0.4 epochs (the "barely" runs, here in RM3's place) is inside the seed spread.
  const inside = suppressionVerdicts(0.5, { sgd, rm3: ra3 }, EPOCHS);
  expect(only(inside, 'suppression-rm3-0.5'), 'cannot-tell', 'a 0.4-epoch shift is inside the seed spread');

  const premiseFails = suppressionVerdicts(0.5, { sgd: cond('sgd-short', noMemory), rm3: cond('rm3-short', { ...noMemory, corrupt: rise(0.2, 30) }) }, EPOCHS);
  const v = only(premiseFails, 'suppression-rm3-0.5');
  expect(v, 'cannot-tell', 'SGD never memorised');
  if (v.premise?.met !== false) throw new Error('the premise should be reported as not met');

  const unfinished = suppressionVerdicts(0.5, { sgd, rm3: [...rm3.slice(0, 2), run('rm3-cut', 2, slow, { finished: false, epochs: 10 })] }, EPOCHS);
  expect(only(unfinished, 'suppression-rm3-0.5'), null, 'one RM3 seed is unfinished');
  if (!only(unfinished, 'suppression-rm3-0.5').waiting?.some((w) => w.includes('rm3-cut'))) throw new Error('the unfinished run is not named');
  expect(only(unfinished, 'suppression-ra3-0.5'), null, 'RA3 has no run');
});

test('one seed: the margin is the binomial standard error of the test set', () => {
  const sets = (gapPts: number) => ({ 'train-sample': () => 1, test: () => 1 - gapPts });
  // A 1-point gap difference on 500 test images (binomial se about 1.5 points at 80%) cannot be told apart.
  const close = suppressionVerdicts(0, { sgd: [run('one-sgd', 0, sets(0.2))], rm3: [run('one-rm3', 0, sets(0.19))] }, EPOCHS);
  expect(close[0], 'cannot-tell', 'a 1-point difference with one seed');
  const far = suppressionVerdicts(0, { sgd: [run('one-sgd2', 0, sets(0.2))], rm3: [run('one-rm3b', 0, sets(0.1))] }, EPOCHS);
  expect(far[0], 'agrees', 'a 10-point difference with one seed');
  if (far[0].evidence.se < 0.015 || far[0].evidence.se > 0.04) throw new Error(`one-seed standard error ${far[0].evidence.se}`);
});

test('label noise: trends over every level, context not counted, premise on memorisation', () => {
  const level = (p: number, memorised: boolean) => ({
    noise: p,
    runs: cond(`ln-${p}`, {
      pristine: rise(1, 3 + 6 * p), corrupt: rise(memorised || p === 0 ? 1 : 0.4, 10 + 4 * p), 'train-sample': rise(1, 4 + 8 * p),
      // Test accuracy falls from its peak after epoch 10, by 30 points times the noise.
      test: (e: number) => rise(0.9 - 0.2 * p, 3)(e) - (e > 10 ? 0.3 * p * Math.min(1, (e - 10) / 20) : 0),
    }),
  });
  const vs = labelNoiseVerdicts([0, 0.25, 0.5, 0.75].map((p) => level(p, true)), 10);
  expect(only(vs, 'label-noise-pristine-speed'), 'agrees', 'pristine slows with noise');
  expect(only(vs, 'label-noise-overfitting'), 'agrees', 'the drop from the peak grows with noise');
  const t = tally(vs);
  if (t.context !== 3 || t.agrees + t.disagrees + t.cannotTell + t.pending !== vs.length - 3) throw new Error(`tally ${JSON.stringify(t)}`);
  const notMemorised = labelNoiseVerdicts([0, 0.25, 0.5].map((p) => level(p, false)), 10);
  expect(only(notMemorised, 'label-noise-overfitting'), 'cannot-tell', 'corrupt examples never memorised');
});

test('winsorization: the premise that s = 0 memorises, the slope over s, 0% noise as context for MNIST', () => {
  const at = (s: number, end: number) => ({ s, runs: cond(`w-${s}-${end}`, { 'train-sample': rise(end, 10 + 5 * s), test: () => 0.1 }) });
  const vs = winsorizeVerdicts(1, [at(0, 1), at(2, 0.5), at(4, 0.2)], { cleanGapClaimed: false, epochs: EPOCHS });
  expect(only(vs, 'winsorize-speed-1'), 'agrees', 'memorisation slows with s');
  expect(only(vs, 'winsorize-prevent-1'), 'agrees', 's = 4 prevents memorisation');
  const short = winsorizeVerdicts(1, [at(0, 0.65), at(2, 0.5), at(4, 0.2)], { cleanGapClaimed: false, epochs: EPOCHS });
  expect(only(short, 'winsorize-speed-1'), 'cannot-tell', 's = 0 reached only 65%');
  const clean = winsorizeVerdicts(0, [at(0, 1), at(2, 1)], { cleanGapClaimed: false, epochs: EPOCHS });
  if (clean[0].kind !== 'context') throw new Error('the 0% gap check on MNIST must be context');
});

/**
 * A winsorize experiment folder as cgh reproduce writes it (experiment.json and one run per level), with
 * synthetic metric files: one seed, `epochs` epochs, the corrupt curve of each level given.
 */
function winsorizeFolder(dir: string, noise: number, corrupt: Record<number, (e: number) => number>, epochs: number): void {
  const levels = Object.keys(corrupt).map(Number);
  const settings = { dataset: 'mnist', model: 'mlp', hidden: [256, 256, 256], init: 'glorot-cg', batchSize: 100, lr: 0.1, momentum: 0, epochs, seed: 0,
    dataSeed: 0 };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'experiment.json'), JSON.stringify({ experiment: 'winsorize', preset: 'mnist-small', settings,
    options: { levels, noise: [noise] }, command: 'test' }));
  for (const s of levels) {
    const runDir = path.join(dir, `s${s}-noise-${noise * 100}`);
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ ...settings, rule: 'winsorize', winsor: s, noise }));
    const sets: Record<string, (e: number) => number> = { corrupt: corrupt[s], pristine: rise(1, 3), test: rise(0.6, 3) };
    sets['train-sample'] = (e) => (1 - noise) * sets.pristine(e) + noise * sets.corrupt(e);
    const lines: string[] = [];
    for (let epoch = 0; epoch <= epochs; epoch++) {
      for (const [set, f] of Object.entries(sets)) {
        const acc = Math.round(Math.min(1, Math.max(0, f(epoch))) * N) / N;
        lines.push(JSON.stringify({ kind: 'eval', step: epoch * 10, epoch, set, loss: 1 - acc, acc, n: N }));
      }
    }
    fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(runDir, 'summary.json'), JSON.stringify({ status: 'completed' }));
  }
}

test('winsorization in the ICLR 2020 setting (c = 0, 1, 2, 4 at 50% noise, one seed), read from a reproduce folder', () => {
  const outcomes = (corrupt: Record<number, (e: number) => number>) => {
    const dir = fs.mkdtempSync(path.join(root, 'reproduce-'));
    winsorizeFolder(path.join(dir, 'winsorize'), 1, { 0: rise(1, 20), 2: rise(0.5, 40), 4: rise(0.3, 50) }, 80);
    winsorizeFolder(path.join(dir, 'winsorize-iclr'), 0.5, corrupt, 60);
    const sections = buildSections(dir);
    // The second grid of the same experiment is its own section, with its own id (anchors, CSV names).
    if (sections.map((x) => x.id).join() !== 'winsorize,winsorize-iclr') throw new Error(`sections ${sections.map((x) => x.id)}`);
    const checks = sections[1].grids![0].checks!;
    if (checks.some((v) => !v.id.endsWith('-0.5'))) throw new Error(`the ICLR grid's checks: ${checks.map((v) => v.id)}`);
    return { speed: only(checks, 'winsorize-speed-0.5'), prevent: only(checks, 'winsorize-prevent-0.5') };
  };
  // c = 0 memorises the corrupt labels by epoch 40; the more clipping, the slower, and c = 4 ends at 80%.
  const clear = outcomes({ 0: rise(1, 22), 1: rise(1, 27), 2: rise(0.95, 35), 4: rise(0.8, 45) });
  expect(clear.speed, 'agrees', 'memorisation slows as c grows');
  expect(clear.prevent, 'agrees', 'c = 4 ends 20 points below c = 0');
  if (!clear.speed.premise?.met) throw new Error('c = 0 memorised, yet the premise is not met');
  // Clipping that speeds memorisation up: the prediction fails.
  const reverse = outcomes({ 0: rise(0.93, 35), 1: rise(1, 28), 2: rise(1, 20), 4: rise(1, 12) });
  expect(reverse.speed, 'disagrees', 'memorisation speeds up as c grows');
  expect(reverse.prevent, 'disagrees', 'c = 4 memorises more than c = 0');
  // c = 0 never memorises (70%): nothing can be said, however different the levels.
  const short = outcomes({ 0: rise(0.7, 25), 1: rise(0.6, 30), 2: rise(0.4, 40), 4: rise(0.2, 50) });
  expect(short.speed, 'cannot-tell', 'c = 0 reached only 70% of the corrupt labels');
  expect(short.prevent, 'cannot-tell', 'c = 0 reached only 70% of the corrupt labels');
  if (short.speed.premise?.met !== false || !/s = 0: 70/.test(short.speed.premise.evidence)) throw new Error(`premise ${JSON.stringify(short.speed.premise)}`);
});

test('difficulty: the slope of SGD − RM3 over every level, and the premise that SGD learns almost every level', () => {
  const mk = (name: string, seed: number, acc: (d: number) => number): DifficultyRun => ({
    name, seed, finished: true, levels: Array.from({ length: 9 }, (_, d) => ({ difficulty: d, count: 400, correct: Math.round(400 * acc(d)) })),
  });
  const sgd = [0, 1, 2].map((s) => mk('sgd', s, (d) => 0.99 - 0.005 * d));
  const widening = [0, 1, 2].map((s) => mk('rm3', s, (d) => 0.99 - 0.03 * d - 0.003 * s));
  const flat = [0, 1, 2].map((s) => mk('rm3', s, (d) => 0.97 - 0.005 * d + (d % 2 ? 0.004 : -0.004)));
  expect(difficultyVerdicts(sgd, widening)[0], 'agrees', 'RM3 falls behind on hard levels');
  expect(difficultyVerdicts(sgd, flat)[0], 'cannot-tell', 'a constant gap');
  const sgdUnlearned = [0, 1, 2].map((s) => mk('sgd', s, (d) => (d >= 7 ? 0.5 : 0.99)));
  expect(difficultyVerdicts(sgdUnlearned, widening)[0], 'cannot-tell', 'SGD misses two levels');
  expect(difficultyVerdicts(sgd, [{ ...widening[0], finished: false }])[0], null, 'an unfinished RM3 run');
});

test('anti-adversarial: every goal must agree, dead units void the premise; easy/hard gap', () => {
  const pre = cond('pre', { train: rise(1, 8, 0.1) }), scratch = cond('scratch', { train: rise(1, 16, 0.1) });
  expect(antiAdversarialVerdicts(pre, scratch)[0], 'agrees', 'pretrained memorises 8 epochs sooner');
  expect(antiAdversarialVerdicts(scratch, pre)[0], 'disagrees', 'pretrained slower');
  const deadPre = cond('pre-dead', { train: rise(1, 8, 0.1) }, { dead: 0.8 });
  expect(antiAdversarialVerdicts(deadPre, scratch)[0], 'cannot-tell', '80% dead units');
  const easy = cond('easy', { train: rise(1, 3), 'e-test': rise(0.9, 3) }), hard = cond('hard', { train: rise(1, 10), 'h-test': rise(0.3, 10) });
  const eh = easyHardVerdicts(easy, hard);
  expect(only(eh, 'easy-hard-gap'), 'agrees', 'the hard gap is 60 points larger');
  if (eh.filter((v) => v.kind === 'context').length !== 3) throw new Error('easy/hard context checks missing');
  expect(only(eh, 'easy-hard-hard-to-easy'), 'cannot-tell', 'no e-test set on the hard model');
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));
test.run();

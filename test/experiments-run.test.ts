// Experiment runs on the GPU at tiny scale: resumption after simulated kills, every experiment end to end,
// and bad input that leaves what was written intact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { executeRun, type MetricRow, type RunConfig, type RunData } from '../experiments/run/grid-run.js';
import { loadExperimentData, type ExperimentData } from '../experiments/run/experiment-data.js';
import { plainRunData } from '../experiments/protocols/protocol.js';
import { presetSettings } from '../experiments/protocols/presets.js';
import { runGrid as runExperiment, type ExperimentRequest } from '../experiments/protocols/grid.js';
import { writeReport } from '../experiments/report/index.js';
import { reproduce, reproducePlan, equivalentCommand } from '../experiments/protocols/reproduce.js';
import { experimentCommand } from '../cli/experiment.js';
import { decodeSafetensors } from '../engine/safetensors.js';
import { splitAtThreshold } from '../experiments/protocols/easy-hard-threshold.js';

const quiet = { log: () => {} };

function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cgh-${tag}-`));
}

let data: ExperimentData;
async function tinyData(): Promise<ExperimentData> {
  data ??= await loadExperimentData({ dataset: 'mnist', trainSize: 300, testSize: 200, dataSeed: 0 });
  return data;
}

function tinyConfig(run: string, extra: Partial<RunConfig> = {}): RunConfig {
  const { thresholdEpochs: _t, antiEpochs: _a, ...s } = presetSettings('tiny', 'label-noise');
  return { ...s, hidden: [16], trainSize: 300, testSize: 200, epochs: 3, experiment: 'test', run, rule: 'sgd', groups: 3, winsor: 0, noise: 0.5, evalSets: [{ name: 'test', count: 200 }], ...extra };
}

/** Rows without their timing fields, as JSON lines. */
function deterministic(rows: MetricRow[]): string[] {
  return rows.map((r) => JSON.stringify({ ...r, examples_per_s: undefined, elapsed_s: undefined }));
}

function readRows(dir: string): MetricRow[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function weights(dir: string): Map<string, number[]> {
  const { tensors } = decodeSafetensors(fs.readFileSync(path.join(dir, 'checkpoint.safetensors')));
  return new Map([...tensors].map(([k, t]) => [k, [...(t.data as Float32Array)]]));
}

class Kill extends Error {}

/** Awaits f and checks that it throws an error of the class, or whose message matches, or that passes the predicate. */
async function rejects(f: () => Promise<unknown>, want: RegExp | (new (...a: any[]) => Error) | ((e: Error) => boolean)): Promise<void> {
  let err: Error | null = null;
  try {
    await f();
  } catch (e) {
    err = e as Error;
  }
  if (!err) throw new assert.Assertion({ message: 'expected an error, got none', operator: 'rejects', expects: want, actual: null });
  const ok = want instanceof RegExp ? want.test(err.message) : want.prototype instanceof Error ? err instanceof (want as any) : (want as (e: Error) => boolean)(err);
  if (!ok) throw new assert.Assertion({ message: `unexpected error: ${err.message}`, operator: 'rejects', expects: want, actual: err.message });
}

test('a run killed at several points resumes with no metric row lost or doubled, bit-identically', async () => {
  const d = await tinyData();
  const runData: RunData = plainRunData(d);
  const config = tinyConfig('resume');
  const baseDir = path.join(tmpDir('base'), 'run');
  const base = await executeRun(baseDir, config, runData);
  assert.is(base.summary.status, 'completed');
  // The summary counts the hidden units that never fire on a training image (16 units, all 300 images).
  const dead = base.summary.deadUnits!;
  assert.equal([dead.units, dead.examples, dead.layers.length], [16, 300, 1]);
  assert.ok(dead.dead >= 0 && dead.dead <= 16 && base.summary.deadFraction === dead.dead / 16, JSON.stringify(dead));
  const want = deterministic(readRows(baseDir));
  const epochRows = want.filter((r) => r.includes('"kind":"epoch"')).length;
  assert.is(epochRows, 3);
  assert.is(want.length, 68, 'rows: 13 evaluation points x 5 sets + 3 epoch rows');
  // 6 steps per epoch (first checkpoint after row 36, second after 62): kills before the first checkpoint,
  // inside each epoch, and right after the last row.
  for (const killAt of [3, 30, 50, 65, want.length]) {
    const dir = path.join(tmpDir('kill'), 'run');
    let seen = 0;
    await rejects(() => executeRun(dir, config, runData, { onRow: () => { if (++seen === killAt) throw new Kill('killed'); } }), Kill);
    // A kill in the middle of a write leaves a torn last line.
    fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"kind":"eval","st');
    const resumed = await executeRun(dir, config, runData);
    assert.is(resumed.summary.status, 'completed');
    assert.equal(deterministic(readRows(dir)), want, `kill after row ${killAt}`);
    assert.equal(weights(dir), weights(baseDir), `weights after a kill at row ${killAt}`);
    assert.equal(fs.readFileSync(path.join(dir, 'examples.safetensors')), fs.readFileSync(path.join(baseDir, 'examples.safetensors')));
  }
  // Killed after the last checkpoint but before summary.json: finishing adds nothing.
  fs.rmSync(path.join(baseDir, 'summary.json'));
  const again = await executeRun(baseDir, config, runData);
  assert.is(again.skipped, false);
  assert.equal(deterministic(readRows(baseDir)), want);
  // A finished run is read back, not repeated.
  const done = await executeRun(baseDir, config, runData);
  assert.ok(done.skipped);
  assert.equal(deterministic(done.rows), want);
});

test('a stop criterion ends a run at the first evaluation that reaches it, and resumes into the same stop', async () => {
  const d = await tinyData();
  const runData = plainRunData(d);
  const config = tinyConfig('stop', { noise: 0, momentum: 0.9, stopAt: { set: 'train', acc: 0.5 } });
  const dir = path.join(tmpDir('stop'), 'run');
  const r = await executeRun(dir, config, runData);
  assert.is(r.summary.status, 'stopped');
  const trainRows = r.rows.filter((x) => x.kind === 'eval' && x.set === 'train') as { acc: number; step: number }[];
  const hit = trainRows.findIndex((x) => x.acc >= 0.5);
  assert.is(hit, trainRows.length - 1, 'stopped at the first evaluation over the threshold');
  assert.is(r.summary.stop!.step, trainRows[hit].step);
  assert.is(r.records!.latestStep, trainRows[hit].step);
  let correct = 0;
  r.records!.correctAtLatest().forEach((c) => (correct += c));
  assert.is(correct / 300, trainRows[hit].acc);
});

test('a stop evaluated every step: rows at every update, the first over the threshold, no later than on the schedule, fewer ties', async () => {
  const runData = plainRunData(await tinyData());
  const onSchedule = await executeRun(path.join(tmpDir('stop-scheduled'), 'run'), tinyConfig('stop', { noise: 0, momentum: 0.9, stopAt: { set: 'train',
    acc: 0.5 } }), runData);
  const config = tinyConfig('stop', { noise: 0, momentum: 0.9, stopAt: { set: 'train', acc: 0.5, everyStep: true } });
  const r = await executeRun(path.join(tmpDir('stop-every-step'), 'run'), config, runData);
  assert.is(r.summary.status, 'stopped');
  const steps = (x: typeof r) => (x.rows.filter((e) => e.kind === 'eval' && e.set === 'train') as { acc: number; step: number }[]);
  const trainRows = steps(r);
  assert.equal(trainRows.map((x) => x.step), Array.from({ length: trainRows.length }, (_, i) => i), 'an evaluation after every update');
  assert.is(trainRows.findIndex((x) => x.acc >= 0.5), trainRows.length - 1, 'stopped at the first step over the threshold');
  const stop = r.summary.stop!.step;
  assert.ok(stop <= onSchedule.summary.stop!.step, `stopped at step ${stop}, after the scheduled run's ${onSchedule.summary.stop!.step}`);
  // Every example's first-correct step is an evaluated step, and the ones right at the stop are those learned by that one update.
  const first = r.records!.first;
  const learnedAt = (k: number) => first.filter((f) => f === k).length;
  assert.ok([...first].every((f) => f === -1 || (f >= 0 && f <= stop)));
  const split = splitAtThreshold(first, 0.5, 7), scheduledSplit = splitAtThreshold(onSchedule.records!.first, 0.5, 7);
  assert.ok(split.boundaryStep >= 0 && split.boundaryStep <= stop);
  assert.is(split.tied, learnedAt(split.boundaryStep));
  assert.ok(split.tied <= scheduledSplit.tied, `${split.tied} tied at the boundary evaluated every step, ${scheduledSplit.tied} on the schedule`);
});

interface Tiny { exp: string; options: Record<string, unknown>; settings?: Record<string, unknown>; thresholdEpochs?: number; antiEpochs?: number }

function request(t: Tiny): ExperimentRequest {
  const { thresholdEpochs, antiEpochs, ...s } = presetSettings('tiny', t.exp);
  return {
    preset: 'tiny',
    settings: { ...s, hidden: [16], trainSize: 300, testSize: 200, epochs: 1, ...t.settings },
    options: { ...t.options, ...(t.exp === 'easy-hard' || t.exp === 'difficulty' ? { thresholdEpochs: t.thresholdEpochs ?? thresholdEpochs } : {}),
      ...(t.exp === 'anti-adversarial' ? { antiEpochs: t.antiEpochs ?? antiEpochs } : {}) },
    command: `test ${t.exp}`,
  };
}

const TINY: Tiny[] = [
  { exp: 'label-noise', options: { noise: [0, 1] } },
  { exp: 'suppression', options: { rules: ['sgd', 'ra3', 'rm3', 'm3'], noise: [0.5] } },
  { exp: 'winsorize', options: { levels: [0, 2], noise: [1] }, settings: { batchSize: 32 } },
  { exp: 'easy-hard', options: { threshold: 0.3 }, thresholdEpochs: 2 },
  { exp: 'difficulty', options: { repeats: 2, threshold: 0.3, compareSgd: true }, thresholdEpochs: 2 },
  { exp: 'anti-adversarial', options: { target: 0.5, goal: 0.15 }, settings: { momentum: 0.9 }, antiEpochs: 4 },
];

test('every experiment runs end to end on a tiny configuration, and a rerun repeats nothing', async () => {
  const root = tmpDir('all');
  for (const t of TINY) {
    const file = await runExperiment(t.exp, path.join(root, t.exp), request(t), quiet);
    assert.ok(fs.existsSync(file), `${t.exp}: no report`);
  }
  const html = fs.readFileSync(writeReport(root), 'utf8');
  for (const id of ['label-noise', 'suppression', 'winsorize', 'easy-hard', 'difficulty', 'anti-adversarial']) assert.ok(html.includes(`<section id="${id}">`), `no ${id} section`);
  const verdicts = html.match(/This run: (agrees|disagrees|cannot tell|no verdict|context)/g) ?? [];
  assert.ok(verdicts.length >= 15, `only ${verdicts.length} checks`);
  assert.ok(html.includes('data-label="M3 corrupt"') && html.includes('data-series="RM3"'), 'suppression and difficulty series');
  assert.ok(fs.existsSync(path.join(root, 'difficulty', 'difficulty.safetensors')) && fs.existsSync(path.join(root, 'easy-hard', 'splits.safetensors')));
  const before = fs.readFileSync(path.join(root, 'suppression', 'rm3-noise-50', 'metrics.jsonl'), 'utf8');
  const lines: string[] = [];
  await runExperiment('suppression', path.join(root, 'suppression'), request(TINY[1]), { log: (l: string) => lines.push(l) });
  assert.ok(lines.length === 4 && lines.every((l) => l.endsWith('already done')), lines.join('\n'));
  assert.is(fs.readFileSync(path.join(root, 'suppression', 'rm3-noise-50', 'metrics.jsonl'), 'utf8'), before);
});

test('bad input: one-line errors, and nothing already written is lost', async () => {
  const root = tmpDir('bad');
  // Noise outside [0, 1]: refused before the folder exists.
  await rejects(() => runExperiment('label-noise', path.join(root, 'ln'), request({ exp: 'label-noise', options: { noise: [0, 1.5] } }), quiet), /--noise 1.5 is outside \[0, 1\]/);
  assert.not.ok(fs.existsSync(path.join(root, 'ln')));
  // A threshold never reached within the budget: the threshold run stays.
  const eh = path.join(root, 'eh');
  await rejects(() => runExperiment('easy-hard', eh, request({ exp: 'easy-hard', options: { threshold: 0.99 }, thresholdEpochs: 1 }), quiet), (e: Error) => /short of --threshold 0.99; raise --threshold-epochs/.test(e.message) && !e.message.includes('\n'));
  const kept = fs.readFileSync(path.join(eh, 'threshold', 'metrics.jsonl'), 'utf8');
  assert.ok(kept.split('\n').length > 10);
  // Split sizes larger than the easy examples: refused after the threshold run, which is kept and reused.
  const eh2 = path.join(root, 'eh2');
  await rejects(() => runExperiment('easy-hard', eh2, request({ exp: 'easy-hard', options: { threshold: 0.3, easyTrain: 100_000 }, thresholdEpochs: 2 }), quiet), /--easy-train 100000 plus --easy-test \d+ is more than the \d+ easy examples/);
  const thresholdRows = fs.readFileSync(path.join(eh2, 'threshold', 'metrics.jsonl'), 'utf8');
  const lines: string[] = [];
  await runExperiment('easy-hard', eh2, request({ exp: 'easy-hard', options: { threshold: 0.3 }, thresholdEpochs: 2 }), { log: (l: string) => lines.push(l) });
  assert.ok(lines.some((l) => l.startsWith('easy-hard/threshold') && l.endsWith('already done')), lines.join('\n'));
  assert.is(fs.readFileSync(path.join(eh2, 'threshold', 'metrics.jsonl'), 'utf8'), thresholdRows);
  // Other settings in the same folder: refused, experiment.json unchanged.
  const spec = fs.readFileSync(path.join(eh2, 'experiment.json'), 'utf8');
  await rejects(() => runExperiment('easy-hard', eh2, request({ exp: 'easy-hard', options: { threshold: 0.4 }, thresholdEpochs: 2 }), quiet), /holds a easy-hard experiment with other settings \(threshold: 0.3 there, 0.4 now\)/);
  assert.is(fs.readFileSync(path.join(eh2, 'experiment.json'), 'utf8'), spec);
});

test('reproduce runs its plan into one report, and each part\'s recorded command resumes that part', async () => {
  const out = tmpDir('reproduce');
  const plan = [{ experiment: 'label-noise' as const, settings: { epochs: 1, trainSize: 300, testSize: 200, hidden: [16] }, options: { noise: [0, 1] } }];
  const progress: string[] = [];
  const file = await reproduce(out, { command: 'cgh reproduce --out X', plan, preset: 'tiny', ...quiet, log: (l: string) => progress.push(l) });
  assert.ok(progress.some((l) => /^run 1 of 2: label-noise\/noise-0; about \d+:\d\d left$/.test(l)), progress.join('\n'));
  assert.ok(progress.some((l) => /^run 2 of 2: label-noise\/noise-100; about \d+:\d\d left$/.test(l)), progress.join('\n'));
  const html = fs.readFileSync(file, 'utf8');
  assert.ok(html.includes('Produced by: cgh reproduce --out X') && html.includes('<section id="label-noise">'));
  const command = equivalentCommand(plan[0], 'tiny', out);
  assert.is(command, `cgh experiment label-noise --preset tiny --epochs 1 --train-size 300 --test-size 200 --hidden 16 --noise 0%,100% --out ${path.join(out, 'label-noise')}`);
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { lines.push(String(chunk)); return true; }) as typeof process.stderr.write;
  try {
    await experimentCommand(command.split(' ').slice(2));
  } finally {
    process.stderr.write = write;
  }
  assert.ok(lines.filter((l) => l.includes('already done')).length === 2, lines.join(''));
  // --seeds and --quick: the seeded parts take the count, the smoke test one seed and a tenth of the epochs.
  const seeded = reproducePlan({ seeds: 5 }).filter((s) => 'seeds' in s.options);
  assert.equal(seeded.map((s) => [s.experiment, s.options.seeds]), [['label-noise', 5], ['suppression', 5]]);
  const quick = reproducePlan({ quick: true });
  const full = reproducePlan();
  quick.forEach((s, i) => {
    assert.is(s.settings.epochs, Math.max(2, Math.round((full[i].settings.epochs ?? presetSettings('mnist-small', s.experiment).epochs) / 10)), s.experiment);
    if ('seeds' in s.options) assert.is(s.options.seeds, 1);
  });
  // The full plan's parts all have flags for their settings.
  for (const step of reproducePlan()) assert.ok(equivalentCommand(step, 'mnist-small', 'runs/reproduce').startsWith(`cgh experiment ${step.experiment} --preset mnist-small`));
});

test.run();

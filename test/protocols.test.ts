// The protocol index: one protocol object, registered once, is an experiment of cgh experiment, a part of
// cgh reproduce and a section of the report; its grid runs one named run at a time, dependencies first.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registerProtocol } from '../experiments/protocols/index.js';
import { defineProtocol, plainRunData } from '../experiments/protocols/protocol.js';
import { executeGridRun, planGrid, writeGridReport } from '../experiments/protocols/grid.js';
import { equivalentCommand, reproduce, reproduceNotes, reproduceParts, reproducePlan } from '../experiments/protocols/reproduce.js';
import { experimentCommand, experimentsHelp } from '../cli/experiment.js';
import { labelNoise } from '../experiments/protocols/label-noise.js';
import { suppression } from '../experiments/protocols/suppression.js';
import { streamedSplit, type Split } from '../engine/data/dataset.js';
import { decodeSafetensors } from '../engine/safetensors.js';
import { RunInterrupted } from '../experiments/run/grid-run.js';
import { costKey, planLines, type PlannedWork } from '../experiments/protocols/plan-estimate.js';

// Called at every batch read of the first run's last evaluation set, "watched", so a test can stop the run inside an evaluation.
let onWatchedRead: (() => void) | null = null;

/** The split's examples read through a source that calls onWatchedRead first. */
function watched(split: Split): Split {
  const f = split.images.length / split.n;
  return streamedSplit({ features: f, read: (indices, out) => {
    onWatchedRead?.();
    for (let k = 0; k < indices.length; k++) out.set(split.images.subarray(indices[k] * f, (indices[k] + 1) * f), k * f);
  } }, split.labels);
}

interface ChainOptions { noise: number }

// Two runs on the same labels; "second" needs "first" finished and starts from its weights.
const chain = defineProtocol<ChainOptions>({
  name: 'chain-check',
  summary: 'A two-run chain used by the tests of the protocol index.',
  flags: [{ name: 'noise', type: 'number', default: 0.5, min: 0, help: 'label-noise level of both runs' }],
  parseFlags: (a) => ({ noise: a.noise as number }),
  toFlags: (o) => ['--noise', String(o.noise)],
  validate: () => {},
  plan: (spec) => [
    { name: 'first', dependsOn: [], prepare: async (ctx) => {
      const plain = plainRunData(ctx.data);
      const data = { ...plain, evalSets: [...plain.evalSets, { name: 'watched', split: watched(ctx.data.test) }] };
      return { config: ctx.config('first', { noise: spec.options.noise }, data), data };
    } },
    { name: 'second', dependsOn: ['first'], prepare: async (ctx) => {
      const first = await ctx.result('first');
      const data = plainRunData(ctx.data);
      return { config: ctx.config('second', { noise: spec.options.noise, seed: first.summary.steps }, data), data };
    } },
  ],
  report: (e) => ({
    id: 'chain-check', title: 'Chain check', paper: 'none', setup: `runs: ${[...e.runs.keys()].join(', ')}`,
    figures: [], tables: [], command: e.spec.command, configs: [],
  }),
  reproduce: { settings: { epochs: 1, trainSize: 300, testSize: 200, hidden: [16] }, options: { noise: 0.5 }, notes: 'two chained runs (a test)' },
});
registerProtocol(chain);

async function rejects(f: () => Promise<unknown>, want: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.match((e as Error).message, want);
    return;
  }
  assert.unreachable('expected an error');
}

function captured(f: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  return f().then(() => lines.join('\n')).finally(() => { console.log = log; });
}

test('--seeds repeats each label-noise and suppression condition on consecutive seeds with the same label noise', async () => {
  const settings = { seed: 4, dataSeed: 9 } as never;
  const names = (p: { plan: (s: never) => { name: string }[] }, options: object) => p.plan({ settings, options } as never).map((r) => r.name);
  assert.equal(names(labelNoise, { noise: [0, 0.5], seeds: 3 }), ['noise-0', 'noise-0-seed1', 'noise-0-seed2', 'noise-50', 'noise-50-seed1', 'noise-50-seed2']);
  assert.equal(names(labelNoise, { noise: [0.5] }), ['noise-50'], 'no --seeds: one run, named as before');
  assert.equal(names(suppression, { rules: ['sgd', 'rm3'], noise: [1], seeds: 2 }),
    ['sgd-noise-100', 'sgd-noise-100-seed1', 'rm3-noise-100', 'rm3-noise-100-seed1']);
  const runs = labelNoise.plan({ settings: { seed: 4, dataSeed: 9, epochs: 1 }, options: { noise: [0.5], seeds: 2 } } as never);
  const own: Record<string, unknown>[] = [];
  const ctx = { data: { train: {}, test: {}, numClasses: 10, inputShape: [1] }, config: (_n: string, o: Record<string, unknown>) => own.push(o) } as never;
  for (const r of runs) await r.prepare(ctx);
  assert.equal(own.map((o) => [o.seed, o.dataSeed]), [[undefined, undefined], [5, 9]]);
  assert.throws(() => labelNoise.validate({ noise: [0], seeds: 0 }, {} as never), /--seeds 0 must be a whole number of at least 1/);
});

test('a protocol registered once is listed and parsed by cgh experiment', async () => {
  assert.ok(experimentsHelp().includes('chain-check       A two-run chain used by the tests'));
  const help = await captured(() => experimentCommand(['chain-check', '--help']));
  assert.ok(help.includes('--noise') && help.includes('label-noise level of both runs'), help);
  assert.ok(reproducePlan().some((s) => s.experiment === 'chain-check'));
  assert.ok(reproduceNotes().includes('  chain-check       two chained runs (a test)'));
});

test('a protocol with two reproduce parts: each in its own folder, with the flags that run it alone', () => {
  const winsorize = reproducePlan().filter((s) => s.experiment === 'winsorize');
  assert.equal(winsorize.map((s) => s.folder ?? s.experiment), ['winsorize', 'winsorize-iclr']);
  const iclr = equivalentCommand(winsorize[1], 'mnist-small', 'runs/r');
  for (const flag of ['--batch-size 100', '--hidden 256,256,256', '--init glorot-cg', '--momentum 0', '--noise 50%', '--levels 0,1,2,4']) {
    assert.ok(iclr.includes(flag), `${flag} missing from ${iclr}`);
  }
  assert.ok(iclr.startsWith('cgh experiment winsorize ') && iclr.endsWith(`--out ${path.join('runs/r', 'winsorize-iclr')}`), iclr);
  const parts = reproduceParts('runs/r', { command: 'cgh reproduce' });
  assert.equal(new Set(parts.map((p) => p.folder)).size, parts.length, 'two parts share a folder');
  assert.ok(reproduceNotes().includes('  winsorize-iclr    the ICLR 2020 MNIST test'));
  // --quick keeps it, at a tenth of the epochs.
  assert.is(reproducePlan({ quick: true }).find((s) => s.folder === 'winsorize-iclr')?.settings.epochs, 6);
});

test('its grid runs one named run at a time, refuses out of order, and reproduce reports it', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-protocol-'));
  const plan = reproducePlan().filter((s) => s.experiment === 'chain-check');
  const lines: string[] = [];
  const file = await reproduce(out, { command: 'cgh reproduce (test)', plan, preset: 'tiny', log: (l) => lines.push(l) });
  const html = fs.readFileSync(file, 'utf8');
  assert.ok(html.includes('<section id="chain-check">') && html.includes('runs: first, second'), 'report section');
  const folder = path.join(out, 'chain-check');
  assert.equal(await planGrid(folder), { experiment: 'chain-check', runs: [{ name: 'first', dependsOn: [] }, { name: 'second', dependsOn: ['first'] }] });
  // A fresh copy of the folder without its runs: the dependent run is refused until its dependency has finished.
  const copy = path.join(out, 'copy');
  fs.mkdirSync(copy);
  fs.copyFileSync(path.join(folder, 'experiment.json'), path.join(copy, 'experiment.json'));
  const quiet = { log: () => {} };
  await rejects(() => executeGridRun(copy, 'second', quiet), /run second of .* needs first finished first/);
  await rejects(() => executeGridRun(copy, 'third', quiet), /third is not a run of the chain-check experiment/);
  assert.not.ok(fs.existsSync(path.join(copy, 'second')));
  await executeGridRun(copy, 'first', quiet);
  await executeGridRun(copy, 'second', quiet);
  for (const run of ['first', 'second']) {
    const rows = (dir: string) => fs.readFileSync(path.join(dir, run, 'metrics.jsonl'), 'utf8').split('\n').map((l) => l.replace(/"(examples_per_s|elapsed_s)":[^,}]+/g, ''));
    assert.equal(rows(copy), rows(folder), `${run}: the same rows run alone as in the local path`);
  }
  assert.ok(fs.readFileSync(await writeGridReport(copy), 'utf8').includes('runs: first, second'));
});

// 6 steps (steps 1-5 are evaluation points) and 6 rows per point: aborts after a point's rows (before the next step), and
// inside the evaluations at step 0, at step 3 and at the epoch end (the watched set's first, fourth and seventh reads).
test('a run stopped by its abort signal, in training or in evaluation, resumes where it stopped to the same rows', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-abort-'));
  const plan = reproducePlan().filter((s) => s.experiment === 'chain-check');
  await reproduce(path.join(out, 'whole'), { command: 'cgh reproduce (test)', plan, preset: 'tiny', log: () => {} });
  const whole = path.join(out, 'whole', 'chain-check');
  const rows = (dir: string) => fs.readFileSync(path.join(dir, 'first', 'metrics.jsonl'), 'utf8').split('\n')
    .map((l) => l.replace(/"(examples_per_s|elapsed_s)":[^,}]+/g, ''));
  const weights = (dir: string) => [...decodeSafetensors(fs.readFileSync(path.join(dir, 'first', 'checkpoint.safetensors'))).tensors]
    .map(([name, t]) => `${name}:${Buffer.from(t.data.buffer).toString('base64')}`);
  const cases = [
    { at: 'row', n: 1, step: 0 }, { at: 'row', n: 12, step: 1 }, { at: 'row', n: 30, step: 4 },
    { at: 'read', n: 1, step: 0 }, { at: 'read', n: 4, step: 3 }, { at: 'read', n: 7, step: 6 },
  ];
  for (const c of cases) {
    const what = `aborted at ${c.at} ${c.n}`;
    const dir = path.join(out, `abort-${c.at}-${c.n}`);
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(whole, 'experiment.json'), path.join(dir, 'experiment.json'));
    const stop = new AbortController();
    let seen = 0;
    const count = () => { if (++seen === c.n) stop.abort(new Error('stopped by the test')); };
    if (c.at === 'read') onWatchedRead = count;
    const hooks = { onRow: c.at === 'row' ? count : undefined };
    let stopped: RunInterrupted | null = null;
    await executeGridRun(dir, 'first', { log: () => {}, signal: stop.signal, hooks }).catch((e) => { stopped = e; });
    onWatchedRead = null;
    assert.instance(stopped, RunInterrupted, what);
    assert.match(stopped!.message, /^run first stopped at epoch 1 step \d+ \(stopped by the test\)$/);
    assert.is(stopped!.step, c.step, what);
    assert.not.ok(fs.existsSync(path.join(dir, 'first', 'summary.json')));
    const ckFile = path.join(dir, 'first', 'checkpoint.safetensors');
    // Stopped before any step in the evaluation at step 0 there is nothing to keep; everywhere else the checkpoint is where it stopped.
    assert.is(fs.existsSync(ckFile), !(c.at === 'read' && c.n === 1), what);
    if (fs.existsSync(ckFile)) {
      const meta = JSON.parse(decodeSafetensors(fs.readFileSync(ckFile)).metadata.cgh);
      assert.equal([meta.epoch, meta.step, meta.position?.stepsDone, meta.position?.evaluationDue], [0, c.step, c.step, c.at === 'read'], what);
    }
    let start: number[] = [];
    await executeGridRun(dir, 'first', { log: () => {}, hooks: { onStart: (epoch, step) => { start = [epoch, step]; } } });
    assert.equal(start, [0, c.step], `${what}: resumed where it stopped`);
    assert.equal(rows(dir), rows(whole), `${what}: the rows`);
    assert.equal(weights(dir), weights(whole), `${what}: the final weights`);
  }
});

test('a plan prices each grid with the cost measured on its own model (reproduce trains several)', () => {
  const work = (run: string, cost?: { trainS: number; evalS: number }): PlannedWork =>
    ({ experiment: 'x', run, epochs: 1, trainExamples: 100, evalExamples: 50, finished: false, cost });
  const lines = planLines([work('small'), work('large', { trainS: 0.1, evalS: 0.02 })], { trainS: 0.01, evalS: 0.002 });
  assert.match(lines[0], /^plan: 2 of 2 runs to do, about 0:12 /, 'the total: 1.1 s + 11 s');
  assert.match(lines[1], /x\/small .* about 0:01$/);
  assert.match(lines[2], /x\/large .* about 0:11$/);
  const settings = { dataset: 'mnist', model: 'mlp', hidden: [128], batchSize: 32 } as never;
  assert.is(costKey(settings), costKey({ ...(settings as object), lr: 0.5, rule: 'rm3' } as never), 'the rule and lr share a measurement');
  assert.is.not(costKey(settings), costKey({ ...(settings as object), hidden: [256, 256, 256] } as never));
});

test.run();

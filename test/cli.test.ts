import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helpText, parseArgs, UsageError } from '../cli/args.js';
import { TRAIN_SPEC } from '../cli/train.js';
import { learningRate, validateSchedule, ScheduleError } from '../experiments/run/schedule.js';
import { RunFolder, RunError } from '../experiments/run/run-folder.js';
import { idxBytes } from './helpers/idx-files.js';
import { cgh, snapshot } from './helpers/cli.js';
import { Progress, clock } from '../cli/progress.js';
import { formatTable, TableStream, percent } from '../cli/table.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-cli-'));
const usage = (argv: string[]) => {
  try {
    parseArgs(TRAIN_SPEC, argv);
  } catch (e) {
    assert.instance(e, UsageError);
    return (e as Error).message;
  }
  throw new Error(`${argv.join(' ')} parsed`);
};

// A tiny, fast run: 200 training and 100 test examples, an 8-unit MLP.
const TINY = ['--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--seed', '3'];
const B50 = ['--batch-size', '50'];

test('flags: defaults, --flag value, --flag=value, lists, booleans', () => {
  const d = parseArgs(TRAIN_SPEC, []);
  assert.is(d.model, 'mlp');
  assert.equal(d.hidden, [1024, 1024]);
  assert.is(d.lr, 0.1);
  assert.is(d.batchSize, 128);
  assert.is(d.resume, false);
  assert.is(d.out, undefined);
  const a = parseArgs(TRAIN_SPEC, ['--lr=0.05', '--hidden', '10,20,30', '--resume', '--schedule', 'cosine', '--momentum', '0.9', '--out', 'runs/x', '--seed=7']);
  assert.equal([a.lr, a.hidden, a.resume, a.schedule, a.momentum, a.out, a.seed], [0.05, [10, 20, 30], true, 'cosine', 0.9, 'runs/x', 7]);
  assert.is(parseArgs(TRAIN_SPEC, ['--resume=false']).resume, false);
  assert.is(parseArgs(TRAIN_SPEC, ['--help']).help, true);
});

test('flags: one-line errors for unknown flags and bad values', () => {
  assert.is(usage(['--lrr', '0.1']), 'unknown flag --lrr; did you mean --lr? (see cgh train --help)');
  assert.is(usage(['--batchsize', '3']), 'unknown flag --batchsize; did you mean --batch-size? (see cgh train --help)');
  assert.is(usage(['--zzzzzzzz']), 'unknown flag --zzzzzzzz (see cgh train --help)');
  assert.is(usage(['--batch-size', 'abc']), '--batch-size expects a whole number, got "abc" (see cgh train --help)');
  assert.is(usage(['--batch-size', '0']), '--batch-size expects a whole number of at least 1, got "0" (see cgh train --help)');
  assert.is(usage(['--epochs', '2.5']), '--epochs expects a whole number, got "2.5" (see cgh train --help)');
  assert.is(usage(['--lr', '0']), '--lr expects a number greater than 0, got "0" (see cgh train --help)');
  assert.is(usage(['--lr', 'NaN']), '--lr expects a number, got "NaN" (see cgh train --help)');
  assert.is(usage(['--schedule', 'linear']), '--schedule expects one of constant, step, cosine, got "linear" (see cgh train --help)');
  assert.is(usage(['--hidden', '10,,3']), '--hidden expects comma-separated whole numbers such as 1024,1024, got "10,,3" (see cgh train --help)');
  assert.is(usage(['--lr']), '--lr needs a value (see cgh train --help)');
  assert.is(usage(['--lr', '--epochs', '3']), '--lr needs a value (see cgh train --help)');
  assert.is(usage(['--seed', '1', '--seed', '2']), '--seed is given twice; give it once (see cgh train --help)');
  assert.is(usage(['mnist']), 'unexpected argument "mnist"; flags start with -- (see cgh train --help)');
  assert.is(usage(['--resume=maybe']), '--resume expects true or false, got "maybe" (see cgh train --help)');
});

test('help lists every flag with its default', () => {
  const text = helpText(TRAIN_SPEC);
  for (const f of TRAIN_SPEC.flags) {
    assert.ok(text.includes(`--${f.name}`), f.name);
    if ('default' in f) {
      const def = Array.isArray(f.default) ? f.default.join(',') : String(f.default);
      assert.ok(text.replace(/\s+/g, ' ').includes(`(default: ${def})`), `default of ${f.name}`);
    }
  }
});

test('progress: a redrawn bar on a terminal, plain lines otherwise; tables', () => {
  const sink = () => { const out: string[] = []; return { out, stream: { write: (t: string) => { out.push(t); return true; } } as unknown as NodeJS.WriteStream }; };
  const t = sink();
  const bar = new Progress({ stream: t.stream, tty: true, rateUnit: 'ex/s' });
  bar.begin('epoch 1/2', 100);
  bar.update(100);
  bar.clear();
  // One update is the rate's baseline (it includes shader compilation), so no rate or ETA yet.
  assert.match(t.out[0], /^\r\x1b\[Kepoch 1\/2 \[#{30}\] 100\/100$/);
  assert.is(t.out[1], '\r\x1b[K');
  const p = sink();
  const plain = new Progress({ stream: p.stream, tty: false, plainEvery: 0, rateUnit: 'ex/s' });
  plain.begin('epoch 2/2', 100);
  plain.update(25);
  plain.update(50);
  plain.clear();
  assert.equal(p.out.length, 2);
  assert.match(p.out[1], /^epoch 2\/2: 50\/100, \d+ ex\/s, 0:00 elapsed, eta \d+:\d\d\n$/);
  assert.is(clock(3725), '1:02:05');
  assert.is(formatTable([{ key: 'a', title: 'name' }, { key: 'b', title: 'acc', format: percent }], [{ a: 'x', b: 0.5 }, { a: 'long', b: 1 }]),
    'name      acc\n----  -------\nx      50.00%\nlong  100.00%');
  const lines: string[] = [];
  const stream = new TableStream([{ key: 'e', title: 'epoch', width: 5 }, { key: 'l', title: 'loss' }], (l) => lines.push(l));
  stream.row({ e: 1, l: 0.12345 });
  assert.equal(lines, ['epoch  loss', '-----  ----', '1      0.1235']);
});

test('lr schedules: constant, StepLR(step, 0.1), CosineAnnealingLR(T_max = epochs)', () => {
  const base = { lr: 0.1, epochs: 8, stepSize: 3 };
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-15, `${a} vs ${b}`);
  for (let e = 0; e < 8; e++) assert.is(learningRate({ ...base, schedule: 'constant' }, e), 0.1);
  [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001].forEach((v, e) => close(learningRate({ ...base, schedule: 'step' }, e), v));
  // eta_min + (base - eta_min)(1 + cos(pi e / T)) / 2, with eta_min = 0 and T = 8.
  [0.1, 0.0961939766, 0.0853553391, 0.0691341716, 0.05, 0.0308658284, 0.0146446609, 0.0038060234].forEach((v, e) => {
    assert.ok(Math.abs(learningRate({ ...base, schedule: 'cosine' }, e) - v) < 1e-10, `cosine epoch ${e}`);
  });
  assert.throws(() => validateSchedule({ ...base, schedule: 'step', stepSize: 0 }), (e: Error) => e instanceof ScheduleError && /--step-size 0/.test(e.message));
});

test('run folder: new run, refusal without --resume, config check, rows, checkpoint and truncation', () => {
  const dir = path.join(tmp, 'rf');
  const config = { lr: 0.1, hidden: [4, 4], version: '1' };
  const run = RunFolder.open(dir, config, { resume: false });
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), config);
  assert.throws(() => RunFolder.open(dir, config, { resume: false }), (e: Error) => e instanceof RunError && e.message === `${dir} already holds a run; use --resume to continue it or choose another --out`);
  assert.throws(() => RunFolder.open(dir, { ...config, lr: 0.2, hidden: [4] }, { resume: true }),
    (e: Error) => e instanceof RunError && e.message === `cannot resume ${dir}: its config differs in lr (0.1 there, 0.2 now), hidden ([4,4] there, [4] now); use the original settings or choose another --out`);
  RunFolder.open(dir, { ...config, version: '2' }, { resume: true, ignoreKeys: ['version'] });

  run.appendMetrics({ kind: 'epoch', epoch: 1 });
  run.saveCheckpoint([{ name: 'layers.0.weight', shape: [2, 2], data: new Float32Array([1, 2, 3, -0]) }], { epoch: 1 });
  run.appendMetrics({ kind: 'epoch', epoch: 2 });
  fs.appendFileSync(run.metricsFile, '{"kind":"ep'); // a row torn by a kill mid-write
  assert.equal(run.readMetrics(), [{ kind: 'epoch', epoch: 1 }, { kind: 'epoch', epoch: 2 }]);

  const resumed = RunFolder.open(dir, config, { resume: true });
  const ck = resumed.loadCheckpoint()!;
  assert.equal(ck.meta, { epoch: 1, metricsRows: 1 });
  assert.equal([...ck.tensors.get('layers.0.weight')!.data], [1, 2, 3, -0]);
  assert.equal(resumed.readMetrics(), [{ kind: 'epoch', epoch: 1 }], 'rows after the checkpoint are dropped, to be written again');
  assert.is(fs.readFileSync(run.metricsFile, 'utf8'), '{"kind":"epoch","epoch":1}\n');
  assert.not.ok(resumed.isDone());
  resumed.markDone({ ok: true });
  assert.ok(resumed.isDone());
  // The lock file stays while this process holds the folder (until it exits).
  assert.equal(fs.readdirSync(dir).sort(), ['.cgh-lock', 'checkpoint.safetensors', 'config.json', 'metrics.jsonl', 'summary.json'], 'no temporary files left');

  // Opening without --resume never truncates.
  const fresh = RunFolder.open(path.join(tmp, 'rf2'), config, { resume: false });
  fresh.appendMetrics({ a: 1 });
  assert.is(fresh.loadCheckpoint(), null);
  assert.is(fresh.readMetrics().length, 1);
  // Resuming a run that never reached a checkpoint starts over.
  const again = RunFolder.open(path.join(tmp, 'rf2'), config, { resume: true });
  assert.is(again.loadCheckpoint(), null);
  assert.is(again.readMetrics().length, 0);
});

test('run folder: a corrupt checkpoint or missing rows are one-line RunErrors and nothing is deleted', () => {
  const dir = path.join(tmp, 'rf3');
  const run = RunFolder.open(dir, { a: 1 }, { resume: false });
  run.appendMetrics({ r: 1 });
  run.appendMetrics({ r: 2 });
  run.saveCheckpoint([], { epoch: 2 });
  fs.writeFileSync(run.metricsFile, '{"r":1}\n');
  assert.throws(() => RunFolder.open(dir, { a: 1 }, { resume: true }).loadCheckpoint(), /holds 1 rows but the checkpoint was taken after 2/);
  fs.writeFileSync(run.checkpointFile, fs.readFileSync(run.checkpointFile).subarray(0, 12));
  const before = snapshot(dir);
  assert.throws(() => RunFolder.open(dir, { a: 1 }, { resume: true }).loadCheckpoint(),
    (e: Error) => e instanceof RunError && /checkpoint.safetensors is not a valid safetensors file: .*; delete it to restart the run from scratch, or choose another --out$/.test(e.message));
  assert.equal(snapshot(dir), before);
  fs.writeFileSync(path.join(dir, 'config.json'), '{ broken');
  assert.throws(() => RunFolder.open(dir, { a: 1 }, { resume: true }), /config.json is not valid JSON; restore it or choose another --out/);
});

// ---- the built command, run as a user would ----

test('cgh: help, unknown command and unknown flag (exit 2, one line on stderr)', () => {
  const help = cgh(['--help']);
  assert.is(help.code, 0);
  for (const c of ['train', 'models', 'adapters', 'bench', 'serve', 'experiment', 'reproduce', 'report']) assert.match(help.stdout, new RegExp(`\\n  ${c} `));
  const trainHelp = cgh(['train', '--help']);
  assert.is(trainHelp.code, 0);
  for (const f of TRAIN_SPEC.flags) assert.ok(trainHelp.stdout.includes(`--${f.name}`), f.name);
  const cmd = cgh(['trian']);
  assert.equal([cmd.code, cmd.errLines], [2, ['cgh: unknown command "trian"; did you mean train? (see cgh --help)']]);
  const flag = cgh(['train', '--lrr', '0.1']);
  assert.equal([flag.code, flag.errLines, flag.stdout], [2, ['cgh: unknown flag --lrr; did you mean --lr? (see cgh train --help)'], '']);
  const resume = cgh(['train', '--resume']);
  assert.equal([resume.code, resume.errLines], [2, ['cgh: --resume needs --out DIR, the run folder to continue (see cgh train --help)']]);
  const value = cgh(['train', '--epochs', 'ten']);
  assert.equal([value.code, value.errLines], [2, ['cgh: --epochs expects a whole number, got "ten" (see cgh train --help)']]);
});

test('cgh train: a missing or corrupt data folder and an oversized batch fail before the run folder exists', () => {
  const out = path.join(tmp, 'never');
  const missing = cgh(['train', ...TINY, ...B50, '--data-dir', path.join(tmp, 'no-such-dir'), '--out', out]);
  assert.is(missing.code, 1);
  assert.is(missing.errLines.length, 1, missing.stderr);
  assert.match(missing.errLines[0], /^cgh: data dir .*no-such-dir does not exist; --data-dir must hold train-images-idx3-ubyte/);

  const bad = path.join(tmp, 'bad-idx');
  fs.mkdirSync(bad);
  const images = idxBytes([2, 28, 28], new Uint8Array(2 * 784));
  images[2] = 0x0d; // float data, not the unsigned bytes MNIST uses
  fs.writeFileSync(path.join(bad, 'train-images-idx3-ubyte'), images);
  fs.writeFileSync(path.join(bad, 'train-labels-idx1-ubyte'), idxBytes([2], [1, 2]));
  fs.writeFileSync(path.join(bad, 't10k-images-idx3-ubyte'), idxBytes([2, 28, 28], new Uint8Array(2 * 784)));
  fs.writeFileSync(path.join(bad, 't10k-labels-idx1-ubyte.gz'), new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
  const corrupt = cgh(['train', ...TINY, ...B50, '--data-dir', bad, '--out', out]);
  assert.is(corrupt.code, 1);
  assert.is(corrupt.errLines.length, 1, corrupt.stderr);
  assert.match(corrupt.errLines[0], /^cgh: .*(train-images-idx3-ubyte|t10k-labels-idx1-ubyte\.gz)/);

  const big = cgh(['train', ...TINY, '--batch-size', '500', '--out', out]);
  assert.equal([big.code, big.errLines], [2, ['cgh: --batch-size 500 is larger than the 200 training examples; use 200 or less (see cgh train --help)']]);
  for (const [flag, value] of [['--momentum', '5'], ['--epochs', '1000000000000']]) {
    const r = cgh(['train', ...TINY, flag, value, '--out', out]);
    assert.is(r.code, 2, `${flag} ${value}`);
    assert.match(r.errLines[0], new RegExp(`^cgh: ${flag} ${value.replace('+', '\\+')} is (outside|more than)`));
  }
  assert.not.ok(fs.existsSync(out), 'no run folder was created');
});

test('cgh train: a run folder, then refusals that leave it intact', () => {
  const out = path.join(tmp, 'run');
  const ok = cgh(['train', ...TINY, ...B50, '--epochs', '1', '--out', out]);
  assert.is(ok.code, 0, ok.stderr);
  const lines = ok.stdout.trim().split('\n');
  assert.match(lines[0], /^adapter: .*; mlp with 6370 parameters; 200 training and 100 test examples; run folder /);
  assert.match(lines[1], /^epoch\s+lr\s+train loss\s+train acc\s+test loss\s+test acc\s+ex\/s\s+elapsed$/);
  assert.match(lines[3], /^1\s+0\.1\s+\d\.\d{4}\s+\d+\.\d\d%/);
  assert.match(lines[4], /^done: test accuracy \d+\.\d\d% after 1 epoch; metrics in /);
  assert.is(lines.length, 5);
  assert.is(ok.errLines.length, 0, 'nothing on stderr');
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  for (const f of TRAIN_SPEC.flags) {
    // label-noise is recorded only when used, so that folders written before it existed still resume (train-resume.test).
    if (f.name === 'out' || f.name === 'resume' || f.name === 'label-noise') continue;
    const key = f.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    assert.ok(key in config || !('default' in f), `config.json records ${f.name}`);
  }
  assert.is(config.trainSubset, 200);
  assert.is(typeof config.version, 'string');
  assert.is(typeof config.adapterReport.name, 'string');
  const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(rows.length, 1);
  assert.equal(Object.keys(rows[0]), ['kind', 'epoch', 'step', 'lr', 'run_loss', 'run_acc', 'train_loss', 'train_acc', 'test_loss', 'test_acc', 'examples_per_s', 'elapsed_s']);
  assert.is(rows[0].step, 4);
  const before = snapshot(out);

  const again = cgh(['train', ...TINY, ...B50, '--epochs', '1', '--out', out]);
  assert.equal([again.code, again.errLines], [1, [`cgh: ${out} already holds a run; use --resume to continue it or choose another --out`]]);
  const other = cgh(['train', ...TINY, ...B50, '--epochs', '1', '--lr', '0.2', '--out', out, '--resume']);
  assert.equal([other.code, other.errLines], [1, [`cgh: cannot resume ${out}: its config differs in lr (0.1 there, 0.2 now); use the original settings or choose another --out`]]);
  const done = cgh(['train', ...TINY, ...B50, '--epochs', '1', '--out', out, '--resume']);
  assert.is(done.code, 0);
  assert.match(done.stdout, /already complete/);
  assert.equal(snapshot(out), before);

  fs.rmSync(path.join(out, 'summary.json'));
  fs.writeFileSync(path.join(out, 'checkpoint.safetensors'), 'not a checkpoint');
  const broken = snapshot(out);
  const corrupt = cgh(['train', ...TINY, ...B50, '--epochs', '1', '--out', out, '--resume']);
  assert.is(corrupt.code, 1);
  assert.is(corrupt.errLines.length, 1, corrupt.stderr);
  assert.match(corrupt.errLines[0], /^cgh: .*checkpoint.safetensors is not a valid safetensors file: .*; delete it to restart the run from scratch, or choose another --out$/);
  assert.equal(snapshot(out), broken, 'nothing in the folder changed');
});

test('cgh train: a diverging loss stops with the step and advice, keeping the folder', () => {
  const out = path.join(tmp, 'nan');
  const r = cgh(['train', ...TINY, ...B50, '--lr', '1e12', '--epochs', '2', '--out', out]);
  assert.is(r.code, 1);
  // The warning about the learning rate comes first, then the one error line.
  assert.is(r.errLines.length, 2, r.stderr);
  assert.match(r.errLines[0], /^cgh: warning: --lr 1000000000000 is far above the usual/);
  assert.match(r.errLines[1], /^cgh: the training loss became NaN or infinite at step \d+ \(epoch 1, learning rate 1000000000000\); lower the learning rate \(e\.g\. --lr 100000000000\) and start again with another --out$/);
  assert.ok(fs.existsSync(path.join(out, 'config.json')));
  assert.not.ok(fs.existsSync(path.join(out, 'checkpoint.safetensors')), 'no checkpoint of diverged weights');
  assert.not.ok(fs.existsSync(path.join(out, 'metrics.jsonl')), 'no row of a diverged epoch');
});

test('cgh models and cgh adapters', () => {
  const m = cgh(['models', '--input', '1,28,28', '--classes', '10']);
  assert.is(m.code, 0, m.stderr);
  // 784*1024 + 1024 + 1024*1024 + 1024 + 1024*10 + 10
  assert.match(m.stdout, /\nmlp\s+1x28x28\s+10\s+1863690\s/);
  const bad = cgh(['models', '--input', '28,28']);
  assert.equal([bad.code, bad.errLines], [2, ['cgh: --input expects C,H,W (three numbers), got 28,28 (see cgh models --help)']]);
  const a = cgh(['adapters']);
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stdout, /^adapter\s+vendor\s+backend/);
  assert.ok(a.stdout.trim().split('\n').length >= 3, 'at least one adapter row');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();

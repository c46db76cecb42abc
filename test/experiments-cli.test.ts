// cgh experiment / report through the built command: one-line errors, and a SIGKILL or SIGTERM mid-run that the
// same command resumes with no metric row lost or doubled.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgh, cghKilledWhen, cghSignalledWhen, snapshot } from './helpers/cli.js';
import { decodeSafetensors } from '../engine/safetensors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-exp-cli-'));
const TINY = ['--preset', 'tiny', '--hidden', '16', '--train-size', '300', '--test-size', '200', '--quiet'];
// The runs of the stop-and-resume tests: 10 epochs write 125 metric rows per run, and the signal goes once the second run
// has written 30, so that most of that run is still ahead however fast the adapter is (the signal lands within 20 ms).
const EPOCHS = 10;
const SIGNAL_AFTER_ROWS = 30;

function oneLineError(args: string[], pattern: RegExp, code = 2): void {
  const r = cgh(args);
  assert.is(r.code, code, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
  assert.is(r.errLines.length, 1, `${args.join(' ')}: ${r.errLines.join(' | ')}`);
  assert.match(r.errLines[0], pattern);
}

test('bad input is one line naming the problem and the fix', () => {
  oneLineError(['experiment', 'label-noise', '--preset', 'imagenet', '--out', path.join(tmp, 'x')], /^cgh: unknown preset "imagenet"; use --preset paper\|mnist\|mnist-small\|cifar10\|tiny$/);
  oneLineError(['experiment', 'label-noise', ...TINY, '--noise', '0,120%', '--out', path.join(tmp, 'x')], /--noise 120% is outside 0-100%/);
  oneLineError(['experiment', 'suppression', ...TINY, '--noise', '1.5', '--out', path.join(tmp, 'x')], /--noise 1.5 is outside \[0, 1\]/);
  oneLineError(['experiment', 'suppression', ...TINY, '--rules', 'sgd,adam', '--out', path.join(tmp, 'x')], /unknown rule "adam"/);
  oneLineError(['experiment', 'labelnoise'], /unknown experiment "labelnoise" \(did you mean label-noise\?\)/);
  oneLineError(['experiment', 'label-noise', '--preset', 'paper', '--out', path.join(tmp, 'x')], /--preset paper needs --data-dir/);
  oneLineError(['experiment', 'label-noise', '--preset', 'tiny', '--train-size', '70000', '--out', path.join(tmp, 'x')], /--train-size 70000 is larger than the 60000 training examples/, 1);
  oneLineError(['report', path.join(tmp, 'nothing-here')], /is not a folder/, 1);
  assert.not.ok(fs.existsSync(path.join(tmp, 'x')), 'a refused command wrote nothing');
  const help = cgh(['experiment', 'easy-hard', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--easy-train N/);
  assert.match(help.stdout, /--preset paper\|mnist/);
});

test('a killed experiment resumes with the same command: no row lost or doubled, finished runs not repeated', async () => {
  const args = (out: string) => ['experiment', 'label-noise', ...TINY, '--noise', '0,50%', '--epochs', String(EPOCHS), '--out', out];
  const base = path.join(tmp, 'base');
  const straight = cgh(args(base));
  assert.is(straight.code, 0, straight.stderr);
  // The plan with its estimate before any run, then each run numbered with the time left.
  assert.match(straight.stderr, /^plan: 2 of 2 runs to do, about \d+:\d\d \(this adapter: [\d,]+ training and [\d,]+ evaluated examples\/s/m);
  const planLine = `^  label-noise/noise-50 +up to ${EPOCHS} epochs, [\\d,]+ training and [\\d,]+ evaluated examples, about \\d+:\\d\\d$`;
  assert.match(straight.stderr, new RegExp(planLine, 'm'));
  assert.ok(straight.stderr.indexOf('plan: ') < straight.stderr.indexOf('run 1 of 2: label-noise/noise-0; about '), straight.stderr);
  assert.match(straight.stderr, /^run 2 of 2: label-noise\/noise-50; about \d+:\d\d left$/m);
  const out = path.join(tmp, 'killed');
  // Kill once the second run has written rows (the first is finished), i.e. mid-grid and mid-run.
  const rows = path.join(out, 'noise-50', 'metrics.jsonl');
  const killed = await cghKilledWhen(args(out), () => fs.existsSync(rows) && fs.readFileSync(rows, 'utf8').split('\n').length > SIGNAL_AFTER_ROWS);
  assert.ok(killed.killed, 'the run finished before it could be killed');
  assert.not.ok(fs.existsSync(path.join(out, 'noise-50', 'summary.json')));
  const first = snapshot(path.join(out, 'noise-0'));
  const resumed = cgh(args(out));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /label-noise\/noise-0: .*already done/);
  assert.match(resumed.stderr, /^plan: 1 of 2 runs to do \(1 finished earlier\), about /m);
  assert.match(resumed.stderr, /^run 1 of 1: label-noise\/noise-50; about \d+:\d\d left$/m);
  assert.equal(snapshot(path.join(out, 'noise-0')), first, 'the finished run was not touched');
  const clean = (dir: string) => fs.readFileSync(path.join(dir, 'noise-50', 'metrics.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.stringify({ ...JSON.parse(l), elapsed_s: undefined, examples_per_s: undefined }));
  assert.equal(clean(out), clean(base));
  assert.ok(fs.existsSync(path.join(out, 'report.html')));
  const report = cgh(['report', out]);
  assert.is(report.code, 0);
  assert.is(report.stdout.trim(), path.join(out, 'report.html'));
});

test('an experiment stopped by SIGTERM checkpoints its current run where it stopped, exits 143, and the same command resumes it there', async () => {
  const args = (out: string) => ['experiment', 'label-noise', ...TINY, '--noise', '0,50%', '--epochs', String(EPOCHS), '--out', out];
  const base = path.join(tmp, 'base');
  if (!fs.existsSync(path.join(base, 'report.html'))) assert.is(cgh(args(base)).code, 0);
  const out = path.join(tmp, 'stopped');
  const rows = path.join(out, 'noise-50', 'metrics.jsonl');
  const stopped = await cghSignalledWhen(args(out), () => fs.existsSync(rows) && fs.readFileSync(rows, 'utf8').split('\n').length > SIGNAL_AFTER_ROWS, ['SIGTERM']);
  assert.ok(stopped.killed, 'the experiment finished before the signal');
  assert.is(stopped.code, 143, stopped.stderr);
  const line = stopped.errLines[stopped.errLines.length - 1];
  const m = /^cgh: stopped at epoch (\d+) step (\d+) of run noise-50; rerun the same command to continue$/.exec(line);
  assert.ok(m, line);
  const meta = JSON.parse(decodeSafetensors(fs.readFileSync(path.join(out, 'noise-50', 'checkpoint.safetensors'))).metadata.cgh);
  assert.equal([meta.epoch + 1, meta.step], [Number(m![1]), Number(m![2])]);
  assert.ok(meta.position, 'a checkpoint of the position inside the epoch');
  const resumed = cgh(args(out));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, meta.step > 0 ? `label-noise/noise-50: resuming in epoch ${m![1]} at step ${m![2]}` : 'label-noise/noise-50: mlp');
  const clean = (dir: string) => fs.readFileSync(path.join(dir, 'noise-50', 'metrics.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.stringify({ ...JSON.parse(l), elapsed_s: undefined, examples_per_s: undefined }));
  assert.equal(clean(out), clean(base));
});

test.run();

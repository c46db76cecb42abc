// cgh train stopped with Ctrl-C, resumed, extended to more epochs, with label noise, and reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, cgh, type CliResult } from './helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-train-resume-'));
const RUN = ['--hidden', '64', '--train-subset', '8000', '--test-subset', '500', '--batch-size', '50', '--seed', '5'];

/** The rows' deterministic fields (timings left out). */
function rows(dir: string): Record<string, unknown>[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { examples_per_s: _r, elapsed_s: _e, ...rest } = JSON.parse(l);
    return rest;
  });
}

/** cgh with SIGINT sent as soon as its output matches `when`. */
function interrupted(args: string[], when: RegExp): Promise<CliResult & { sent: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CGH_DEBUG: '' } });
    let stdout = '', stderr = '', sent = false;
    const check = () => { if (!sent && when.test(stdout)) { sent = true; child.kill('SIGINT'); } };
    child.stdout.on('data', (d) => { stdout += d; check(); });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr, errLines: stderr.split('\n').filter((l) => l.startsWith('cgh: ')), sent }));
  });
}

test('Ctrl-C before the first epoch ends: exit 130 and the hint; --resume, then --resume --epochs 2, give the rows of a straight 2-epoch run', async () => {
  const straight = path.join(tmp, 'straight');
  const a = cgh(['train', ...RUN, '--epochs', '2', '--out', straight]);
  assert.is(a.code, 0, a.stderr);

  const out = path.join(tmp, 'stopped');
  const r = await interrupted(['train', ...RUN, '--epochs', '1', '--out', out], /run folder/);
  assert.ok(r.sent);
  assert.is(r.code, 130, r.stderr);
  // The stop is checkpointed at the step boundary where it happened, inside the first epoch.
  assert.equal(r.errLines.length, 1, r.stderr);
  assert.match(r.errLines[0], /^cgh: stopped at epoch 1 step \d+; rerun the same command with --resume to continue$/);

  const resumed = cgh(['train', ...RUN, '--epochs', '1', '--out', out, '--resume']);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /done: test accuracy [\d.]+% after 1 epoch;/);
  const extended = cgh(['train', ...RUN, '--epochs', '2', '--out', out, '--resume']);
  assert.is(extended.code, 0, extended.stderr);
  assert.match(extended.stdout, /^extending .* to 2 epochs \(it was set up for 1\)$/m);
  assert.equal(rows(out), rows(straight), 'stopped, resumed and extended = straight');
  assert.is(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).epochs, 2);
  const fewer = cgh(['train', ...RUN, '--epochs', '1', '--out', out, '--resume']);
  assert.is(fewer.code, 2);
  assert.match(fewer.errLines[0], /^cgh: --epochs 1 is fewer than the 2 epochs .* has finished; give --epochs 2 or more$/);
});

test('--resume on a folder that does not exist is a usage error, and creates nothing', () => {
  const missing = path.join(tmp, 'typo');
  const r = cgh(['train', ...RUN, '--out', missing, '--resume']);
  assert.is(r.code, 2);
  assert.match(r.errLines[0], /^cgh: --resume: .*typo holds no run \(no config\.json there\); check the folder name, or leave out --resume/);
  assert.ok(!fs.existsSync(missing));
});

test('--label-noise: pristine and corrupt accuracies from the same pass as train accuracy; cgh report draws the run\'s curves', () => {
  const out = path.join(tmp, 'noisy');
  const r = cgh(['train', ...RUN, '--label-noise', '0.5', '--epochs', '1', '--log-every', '20', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /test acc\s+test top-5\s+pristine acc\s+corrupt acc/);
  const epoch = rows(out).find((x) => x.kind === 'epoch')!;
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.is(config.labelNoise, 0.5);
  for (const k of ['pristine_acc', 'corrupt_acc', 'pristine_loss', 'corrupt_loss']) assert.type(epoch[k], 'number', k);
  // About half the labels are redrawn, and a redrawn label is a new class 9 times in 10.
  const acc = epoch as { train_acc: number; pristine_acc: number; corrupt_acc: number };
  const between = (v: number, lo: number, hi: number) => Math.min(lo, hi) - 1e-9 <= v && v <= Math.max(lo, hi) + 1e-9;
  assert.ok(between(acc.train_acc, acc.pristine_acc, acc.corrupt_acc), JSON.stringify(epoch));
  assert.is(cgh(['train', ...RUN, '--label-noise', '1.5', '--out', path.join(tmp, 'bad')]).code, 2);

  const report = cgh(['report', out]);
  assert.is(report.code, 0, report.stderr);
  assert.is(report.stdout.trim(), path.join(out, 'report.html'));
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.is((html.match(/<svg /g) ?? []).length, 4);
  for (const label of ['pristine', 'corrupt', 'logged steps']) assert.ok(html.includes(`class="legend">${label}</text>`), label);
  assert.ok(html.includes('50% of which were randomised'));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

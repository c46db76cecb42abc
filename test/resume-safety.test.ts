// Resuming only what can be resumed: a refused --resume changes nothing, a checkpoint belongs to its own run,
// and a run whose loss has run away stops instead of finishing "done".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../engine/safetensors.js';
import { cgh, snapshot } from './helpers/cli.js';
import { runFingerprint } from '../experiments/run/fingerprint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-resume-safety-'));
const TINY = ['--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--epochs', '4', '--log-every', '2'];
const CHECKPOINT = 'checkpoint.safetensors';
const rowCount = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l !== '').length;

/** A finished run of `seed`, copied fresh into `name` for each test. */
const finished = new Map<number, string>();
function runOf(seed: number, name: string): string {
  if (!finished.has(seed)) {
    const dir = path.join(tmp, `finished-${seed}`);
    const r = cgh(['train', ...TINY, '--seed', String(seed), '--out', dir]);
    assert.is(r.code, 0, r.stderr);
    finished.set(seed, dir);
  }
  const dir = path.join(tmp, name);
  fs.cpSync(finished.get(seed)!, dir, { recursive: true });
  return dir;
}

/** Rewrites the checkpoint's tensors and metadata. */
function editCheckpoint(dir: string, edit: (tensors: SafeTensor[], meta: Record<string, unknown>) => void): void {
  const file = path.join(dir, CHECKPOINT);
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(file));
  const list = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data, dtype: t.dtype } as SafeTensor));
  const meta = JSON.parse(metadata.cgh);
  edit(list, meta);
  fs.writeFileSync(file, encodeSafetensors(list, { cgh: JSON.stringify(meta) }));
}

/** As if killed after the last epoch's rows were appended but before its checkpoint: the checkpoint saw 3 rows fewer. */
function killedBeforeLastCheckpoint(dir: string): void {
  fs.rmSync(path.join(dir, 'summary.json'));
  editCheckpoint(dir, (_t, meta) => { meta.metricsRows = (meta.metricsRows as number) - 3; });
}

function refusedUnchanged(dir: string, args: string[], pattern: RegExp): void {
  const before = snapshot(dir);
  const rows = rowCount(dir);
  const r = cgh(['train', ...args, '--out', dir]);
  assert.is(r.code, 1, `exit ${r.code}; ${r.stdout.slice(-200)} ${r.stderr}`);
  assert.is(r.errLines.length, 1, r.errLines.join(' | '));
  assert.match(r.errLines[0], pattern);
  assert.is(rowCount(dir), rows, 'no row was deleted');
  assert.equal(snapshot(dir), before, 'the refused command changed nothing');
}

test('a failed --resume (mis-shaped tensor) deletes no row', () => {
  const dir = runOf(3, 'misshaped');
  killedBeforeLastCheckpoint(dir);
  editCheckpoint(dir, (tensors) => {
    const bias = tensors.find((t) => t.name === 'layers.0.bias')!;
    bias.shape = [7];
    bias.data = (bias.data as Float32Array).slice(0, 7);
  });
  refusedUnchanged(dir, [...TINY, '--seed', '3', '--resume'], /layers\.0\.bias/);
});

test('a failed --resume (metadata without epoch and step) deletes no row', () => {
  const dir = runOf(3, 'no-epoch');
  killedBeforeLastCheckpoint(dir);
  editCheckpoint(dir, (_t, meta) => { delete meta.epoch; delete meta.step; delete meta.metricsRows; });
  refusedUnchanged(dir, [...TINY, '--seed', '3', '--resume'], /lacks the epoch|how many metric rows it saw/);
});

test('a failed --resume (a garbled line in metrics.jsonl) deletes no row', () => {
  const dir = runOf(3, 'garbled');
  killedBeforeLastCheckpoint(dir);
  const file = path.join(dir, 'metrics.jsonl');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[1] = '{"kind":"step","epo';
  fs.writeFileSync(file, lines.join('\n'));
  refusedUnchanged(dir, [...TINY, '--seed', '3', '--resume'], /metrics\.jsonl line 2 is not JSON/);
});

test('a folder holding only a checkpoint is not adopted without --resume', () => {
  const dir = path.join(tmp, 'only-checkpoint');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(runOf(3, 'source-a'), CHECKPOINT), path.join(dir, CHECKPOINT));
  const before = snapshot(dir);
  const r = cgh(['train', ...TINY, '--seed', '3', '--out', dir]);
  assert.is(r.code, 1, `exit ${r.code}; ${r.stdout.slice(-200)}`);
  assert.is(r.errLines.length, 1, r.errLines.join(' | '));
  assert.match(r.errLines[0], /holds a checkpoint but no config\.json/);
  assert.equal(snapshot(dir), before);
});

test('a checkpoint copied from another run (another seed) is refused, not resumed', () => {
  const dir = runOf(4, 'copied');
  fs.rmSync(path.join(dir, 'summary.json'));
  fs.copyFileSync(path.join(runOf(3, 'source-b'), CHECKPOINT), path.join(dir, CHECKPOINT));
  refusedUnchanged(dir, [...TINY, '--seed', '4', '--resume'], /checkpoint\.safetensors belongs to another run/);
});

test('checkpoint metadata with a negative or impossible epoch is refused', () => {
  for (const [name, edit] of [['negative', -5], ['beyond', 9], ['fraction', 1.5]] as const) {
    const dir = runOf(3, `epoch-${name}`);
    killedBeforeLastCheckpoint(dir);
    editCheckpoint(dir, (_t, meta) => { meta.epoch = edit; });
    refusedUnchanged(dir, [...TINY, '--seed', '3', '--resume'], /epoch/);
  }
});

test('a finite but diverged run stops naming the step, and the rule can be switched off', () => {
  const args = ['--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--epochs', '3', '--seed', '3', '--lr', '1e6'];
  const dir = path.join(tmp, 'diverged');
  const r = cgh(['train', ...args, '--out', dir]);
  assert.is(r.code, 1, `exit ${r.code}; ${r.stdout.slice(-300)}`);
  assert.is(r.errLines.length, 1, r.errLines.join(' | '));
  assert.match(r.errLines[0], /^cgh: the training loss diverged: .* at step \d+ .*--diverge-factor/);
  assert.not.match(r.stdout, /done:/);
  const off = cgh(['train', ...args, '--diverge-factor', '0', '--out', path.join(tmp, 'diverged-off')]);
  assert.is(off.code, 0, off.stderr);
});

test('the fingerprint follows the settings and every value of the data, not key order or the keys allowed to change', () => {
  const split = (v: number) => ({ images: new Float32Array([0, 0.5, v, 1]), labels: new Int32Array([1, 2]), n: 2 });
  const base = runFingerprint({ lr: 0.1, seed: 3, version: '1' }, ['version'], [split(0.25)]);
  assert.is(runFingerprint({ seed: 3, lr: 0.1, version: '2' }, ['version'], [split(0.25)]), base);
  assert.is.not(runFingerprint({ lr: 0.1, seed: 4, version: '1' }, ['version'], [split(0.25)]), base);
  assert.is.not(runFingerprint({ lr: 0.1, seed: 3, version: '1' }, ['version'], [split(0.75)]), base);
  const relabelled = split(0.25);
  relabelled.labels[1] = 3;
  assert.is.not(runFingerprint({ lr: 0.1, seed: 3, version: '1' }, ['version'], [relabelled]), base);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();

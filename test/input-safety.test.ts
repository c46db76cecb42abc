// Inputs that used to hang, exhaust memory, train silently on garbage or leak files: poisoned weights, gzip
// bombs, special files where data files belong, symlinks and foreign Host headers at cgh serve, sizes and
// usage mistakes that escaped as raw messages or the wrong exit code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'fflate';
import { encodeSafetensors } from '../engine/safetensors.js';
import { decodeIdx } from '../engine/data/idx.js';
import { ensureIdxDecoder } from '../engine/data/node-data.js';
import { startServer } from '../cli/serve.js';
import { CLI } from './helpers/cli.js';
import { idxBytes } from './helpers/idx-files.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-input-safety-'));
const TINY = ['--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--batch-size', '50', '--epochs', '1', '--seed', '3'];
const DAWN_NOTICE = /^Warning: max\w+ artificially reduced/;

/** cgh with a time limit: a command that hangs fails the test instead of the suite. */
function cghWithin(args: string[], seconds = 90) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: seconds * 1000, env: { ...process.env, CGH_DEBUG: '' } });
  const errLines = (r.stderr ?? '').split('\n').filter((l) => l !== '' && !DAWN_NOTICE.test(l));
  return { code: r.status, signal: r.signal, errLines, stderr: r.stderr };
}

function oneLine(args: string[], code: number, pattern: RegExp, what = args.join(' ')): void {
  const r = cghWithin(args);
  assert.is(r.signal, null, `${what}: still running after the time limit (${r.signal})`);
  assert.is(r.code, code, `${what}: exit ${r.code}, ${r.stderr}`);
  assert.is(r.errLines.length, 1, `${what}: ${r.errLines.join(' | ')}`);
  assert.match(r.errLines[0], pattern, what);
  assert.not.match(r.errLines[0], /\b(E[A-Z]{3,}:|Invalid typed array length|internal error)/, what);
}

test('--weights with NaN or infinity is refused, naming the tensor and the count', () => {
  const tensors = (poison: (name: string, a: Float32Array) => void) => {
    const shapes: [string, number[]][] = [['layers.0.weight', [8, 784]], ['layers.0.bias', [8]], ['layers.2.weight', [10, 8]], ['layers.2.bias', [10]]];
    return encodeSafetensors(shapes.map(([name, shape]) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01);
      poison(name, data);
      return { name, shape, data };
    }));
  };
  const allNan = path.join(tmp, 'all-nan.safetensors');
  fs.writeFileSync(allNan, tensors((name, a) => { if (name === 'layers.0.weight') a.fill(NaN); }));
  const oneInf = path.join(tmp, 'one-inf.safetensors');
  fs.writeFileSync(oneInf, tensors((name, a) => { if (name === 'layers.2.bias') a[3] = -Infinity; }));
  oneLine(['train', ...TINY, '--weights', allNan, '--out', path.join(tmp, 'nan-run')], 1, /^cgh: \S+all-nan\.safetensors: layers\.0\.weight holds NaN or infinity in all 6272 values; .*use other weights$/);
  oneLine(['train', ...TINY, '--weights', oneInf, '--out', path.join(tmp, 'nan-run')], 1, /^cgh: \S+one-inf\.safetensors: layers\.2\.bias holds NaN or infinity in 1 of its 10 values/);
  assert.not.ok(fs.existsSync(path.join(tmp, 'nan-run')), 'nothing was written');
});

test('a gzip bomb is refused as soon as it inflates past the size its IDX header declares', async () => {
  await ensureIdxDecoder();
  const honest = idxBytes([10, 28, 28], new Uint8Array(7840));
  const bomb = new Uint8Array(honest.length + 64 * 2 ** 20);
  bomb.set(honest);
  const gz = gzipSync(bomb);
  assert.ok(gz.length < 200 * 1024, `${gz.length} compressed bytes`);
  assert.throws(() => decodeIdx(gz, 'bomb.gz', 'float', 3), (e: Error) => e.name === 'DataError'
    && /^bomb\.gz: decompresses to more than the 7856 bytes its header declares; the file is corrupt \(or a decompression bomb\), so re-download it$/.test(e.message));
  const huge = idxBytes([2 ** 31, 28, 28], new Uint8Array(0));
  assert.throws(() => decodeIdx(gzipSync(huge), 'huge.gz', 'float', 3), (e: Error) => /huge\.gz: its header declares \d+ bytes, more than the \d+ the decoder can hold/.test(e.message));
  const ok = decodeIdx(gzipSync(honest), 'honest.gz', 'float', 3);
  assert.equal(ok.dims, [10, 28, 28]);
});

test('a named pipe, folder, broken symlink or symlink loop in place of a data file is one line with a fix, at once', () => {
  const make = (name: string, plant: (file: string) => void) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idxBytes([3], [0, 1, 2]));
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idxBytes([3, 2, 2], new Uint8Array(12)));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes([3], [0, 1, 2]));
    plant(path.join(dir, 'train-images-idx3-ubyte'));
    return dir;
  };
  const cases: [string, (f: string) => void, RegExp][] = [
    ['pipe', (f) => assert.is(spawnSync('mkfifo', [f]).status, 0), /train-images-idx3-ubyte is a named pipe, not a regular file; replace it with the IDX file itself/],
    ['folder', (f) => fs.mkdirSync(f), /train-images-idx3-ubyte is a folder, not a regular file; replace it/],
    ['broken-link', (f) => fs.symlinkSync('/nonexistent/train-images', f), /train-images-idx3-ubyte is a symbolic link to \/nonexistent\/train-images, which does not exist; replace it/],
    ['loop', (f) => fs.symlinkSync(f, f), /train-images-idx3-ubyte is a symbolic link that loops back on itself; replace it/],
  ];
  for (const [name, plant, pattern] of cases) {
    oneLine(['train', ...TINY, '--data-dir', make(name, plant), '--out', path.join(tmp, `run-${name}`)], 1, pattern, name);
  }
  const pipe = path.join(tmp, 'weights.fifo');
  assert.is(spawnSync('mkfifo', [pipe]).status, 0);
  oneLine(['train', ...TINY, '--weights', pipe, '--out', path.join(tmp, 'run-fifo-weights')], 1, /^cgh: --weights \S+weights\.fifo is a named pipe, not a regular file; give --weights a safetensors file$/);
});

function get(port: number, urlPath: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function servedFolder(): Promise<{ server: Awaited<ReturnType<typeof startServer>>; here: string }> {
  const root = fs.mkdtempSync(path.join(tmp, 'serve-root-'));
  fs.mkdirSync(path.join(root, 'dist', 'web'), { recursive: true });
  fs.mkdirSync(path.join(root, 'web'));
  fs.writeFileSync(path.join(root, 'dist', 'web', 'main.js'), 'export {};\n');
  fs.writeFileSync(path.join(root, 'web', 'index.html'), '<!doctype html>\n');
  const secret = path.join(root, '..', `${path.basename(root)}-secret.txt`);
  fs.writeFileSync(secret, 'private\n');
  fs.symlinkSync(secret, path.join(root, 'dist', 'web', 'leak.js'));
  fs.symlinkSync(path.join(root, 'dist', 'web', 'main.js'), path.join(root, 'dist', 'web', 'alias.js'));
  const server = await startServer({ port: 0, host: '127.0.0.1', root });
  return { server, here: `127.0.0.1:${server.port}` };
}

test('cgh serve: no symlink leads out of its folders', async () => {
  const { server, here } = await servedFolder();
  try {
    assert.is((await get(server.port, '/dist/web/main.js', here)).status, 200);
    assert.is((await get(server.port, '/dist/web/alias.js', here)).status, 200, 'a link that stays inside is served');
    const leak = await get(server.port, '/dist/web/leak.js', here);
    assert.is(leak.status, 404);
    assert.not.match(leak.body, /private/);
  } finally {
    await server.close();
  }
});

test('cgh serve: a Host header that does not name the server (DNS rebinding) is refused', async () => {
  const { server, here } = await servedFolder();
  try {
    for (const host of [`localhost:${server.port}`, `[::1]:${server.port}`, here]) assert.is((await get(server.port, '/', host)).status, 200, host);
    for (const host of [`attacker.example:${server.port}`, 'attacker.example', `localhost:${server.port + 1}`, `127.0.0.1.attacker.example:${server.port}`]) {
      const r = await get(server.port, '/', host);
      assert.is(r.status, 403, host);
      assert.match(r.body, /does not name this server/);
    }
  } finally {
    await server.close();
  }
});

test('a usage mistake in an experiment\'s own flags exits 2 and makes no folder', () => {
  const winsor = path.join(tmp, 'winsor');
  oneLine(['experiment', 'winsorize', '--preset', 'tiny', '--levels', '100', '--out', winsor], 2, /^cgh: winsorization level 100 does not fit a batch of 32 .* use --levels between 0 and 15$/);
  assert.not.ok(fs.existsSync(winsor), 'the refused command made no folder');
});

test('impossible sizes are one line before anything is allocated', () => {
  oneLine(['train', '--hidden', '99999999999999999999', '--out', path.join(tmp, 'big')], 2, /^cgh: --hidden expects comma-separated whole numbers up to 9007199254740991, got "99999999999999999999"/);
  oneLine(['train', ...TINY.slice(2), '--hidden', '100000000', '--out', path.join(tmp, 'big')], 1, /^cgh: a model tensor would hold 7\.840e\+10 values \(292 GiB\), more than a GPU buffer can .*; use a smaller model \(--hidden, --width\)$/);
  assert.not.ok(fs.existsSync(path.join(tmp, 'big')));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();

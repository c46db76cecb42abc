// scripts/setup.sh, the README's first command, on simulated machines: apt-get and npm are stubs that record their
// arguments, the file system it inspects is a folder standing for /, and Dawn finds no adapter until the stub
// "installs" lavapipe by writing the Vulkan manifest that VK_ICD_FILENAMES points at.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cgh } from './helpers/cli.js';
import { BOOKWORM_BACKPORTS } from '../engine/device.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-setup-'));
/** The manifest the stub "installs": lavapipe's, or on a GPU machine without it, the first installed driver's. */
const ICD_DIR = '/usr/share/vulkan/icd.d';
const installed = fs.existsSync(ICD_DIR) ? fs.readdirSync(ICD_DIR).filter((f) => f.endsWith('.json')) : [];
const LAVAPIPE_ICD = [...installed.filter((f) => f.startsWith('lvp_icd')), ...installed].map((f) => path.join(ICD_DIR, f))[0];

/** The README's first command, split at the set-up step. */
function readmeFirstCommand(): { setup: string; rest: string } {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const block = /```sh\n([^\n]*)\n/.exec(readme);
  assert.ok(block, 'README starts with a sh block');
  const line = block![1].replace(/\s+#.*$/, '');
  const [setup, ...rest] = line.split(' && ');
  return { setup, rest: rest.join(' && ') };
}

interface Machine { dir: string; root: string; icd: string; env: Record<string, string> }

/** A simulated machine: os-release, optional GPU entries, stubs for apt-get and npm that log their arguments. */
function machine(name: string, opts: { uid?: number; osRelease?: string; files?: Record<string, string> } = {}): Machine {
  const dir = path.join(tmp, name);
  const root = path.join(dir, 'root');
  const files: Record<string, string> = { 'etc/os-release': opts.osRelease ?? 'ID=debian\nVERSION_ID="12"\n', ...opts.files };
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  const icd = path.join(dir, 'icd', 'lvp_icd.json');
  const stub = (file: string, body: string) => { fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 }); return file; };
  const aptGet = stub(path.join(dir, 'apt-get'),
    `echo "$*" >> '${dir}/apt.log'\nif [ "$1" = install ]; then mkdir -p '${path.dirname(icd)}' && cp '${LAVAPIPE_ICD}' '${icd}'; fi`);
  const npm = stub(path.join(dir, 'npm'), `echo "$*" >> '${dir}/npm.log'`);
  const env = {
    ...process.env as Record<string, string>,
    // The Vulkan loader's old and new names for the driver manifests to use instead of the installed ones.
    VK_ICD_FILENAMES: icd,
    VK_DRIVER_FILES: icd,
    CGH_SETUP_ROOT: root,
    CGH_SETUP_APT_GET: aptGet,
    CGH_SETUP_NPM: npm,
    CGH_SETUP_UID: String(opts.uid ?? 0),
  };
  return { dir, root, icd, env };
}

function run(command: string, m: Machine) {
  const r = spawnSync('bash', ['-c', command], { cwd: REPO, env: m.env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const log = (m: Machine, which: 'apt' | 'npm') => {
  const f = path.join(m.dir, `${which}.log`);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
};

test('README: the first command is the set-up script, then the main job', () => {
  const { setup, rest } = readmeFirstCommand();
  assert.is(setup, 'bash scripts/setup.sh');
  assert.match(rest, /^node dist\/cli\/main\.js reproduce /);
});

test('setup on Debian 12 without a GPU or adapter: npm ci, build, backports source, lavapipe, then cgh finds the adapter', () => {
  assert.ok(LAVAPIPE_ICD, 'the tests need a Vulkan driver installed (scripts/setup.sh installs lavapipe)');
  const m = machine('no-gpu');
  const before = run('node scripts/probe-adapter.mjs', m);
  assert.is(before.code, 1, 'the simulated machine has no adapter before set-up');
  const r = run(readmeFirstCommand().setup, m);
  assert.is(r.code, 0, r.err);
  assert.equal(log(m, 'npm'), ['ci --no-audit --no-fund', 'run build']);
  assert.equal(log(m, 'apt'), ['update -q', 'install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers']);
  const source = fs.readFileSync(path.join(m.root, 'etc/apt/sources.list.d/bookworm-backports.list'), 'utf8');
  assert.is(source.trim(), BOOKWORM_BACKPORTS);
  assert.match(r.out, /setup: ready/);
  const adapters = cgh(['adapters'], m.env);
  assert.is(adapters.code, 0, adapters.stderr);
  if (LAVAPIPE_ICD.includes('lvp_icd')) assert.match(adapters.stdout, /llvmpipe/);
  assert.not.match(adapters.stdout, /^adapter.*\n-+.*\n\n/, 'at least one adapter row');
  // A second run finds the adapter and installs nothing more.
  const again = run(readmeFirstCommand().setup, m);
  assert.is(again.code, 0, again.err);
  assert.is(log(m, 'apt').length, 2);
});

test('setup without root: installs nothing, prints the commands to run with sudo', () => {
  const m = machine('no-root', { uid: 1000 });
  const r = run('bash scripts/setup.sh', m);
  assert.is(r.code, 1);
  assert.equal(log(m, 'apt'), []);
  assert.ok(!fs.existsSync(path.join(m.root, 'etc/apt/sources.list.d')));
  assert.ok(r.err.includes(`echo '${BOOKWORM_BACKPORTS}' | sudo tee /etc/apt/sources.list.d/bookworm-backports.list`), r.err);
  assert.ok(r.err.includes('sudo apt-get install -y -t bookworm-backports mesa-vulkan-drivers'), r.err);
});

test('setup with an NVIDIA GPU whose driver does not load: names the missing libraries, never suggests Mesa', () => {
  const m = machine('nvidia', { files: { 'sys/class/drm/card0/device/vendor': '0x10de\n' } });
  const r = run('bash scripts/setup.sh', m);
  assert.is(r.code, 1);
  assert.equal(log(m, 'apt'), []);
  for (const pkg of ['libvulkan1', 'libglvnd0', 'libegl1', 'nvidia_icd.json', '/proc/driver/nvidia']) assert.ok(r.err.includes(pkg), `${pkg} in ${r.err}`);
  assert.not.match(r.err, /mesa|lavapipe|backports/i);
});

test('setup with an NVIDIA GPU and everything in place but the Vulkan loader: names only the loader', () => {
  const lib = 'usr/lib/x86_64-linux-gnu';
  const m = machine('nvidia-no-loader', {
    files: {
      'proc/driver/nvidia/version': 'NVRM version: 550\n',
      [`${lib}/libGLdispatch.so.0`]: '', [`${lib}/libEGL.so.1`]: '', [`${lib}/libGLX.so.0`]: '',
      'usr/share/vulkan/icd.d/nvidia_icd.json': '{}',
    },
  });
  const r = run('bash scripts/setup.sh', m);
  assert.is(r.code, 1);
  const missing = r.err.split('\n').filter((l) => l.startsWith('  - '));
  assert.equal(missing, ['  - the Vulkan loader (Debian: apt-get install libvulkan1)'], r.err);
});

test('setup with an AMD GPU without its Vulkan driver: names RADV, not lavapipe', () => {
  const m = machine('amd', { files: { 'sys/class/drm/card1/device/vendor': '0x1002\n', 'usr/lib/x86_64-linux-gnu/libvulkan.so.1': '' } });
  const r = run('bash scripts/setup.sh', m);
  assert.is(r.code, 1);
  assert.match(r.err, /AMD Vulkan driver RADV/);
  assert.not.match(r.err, /lavapipe|backports/i);
});

/** An NVIDIA display controller as /sys/bus/pci lists it, with no driver loaded. */
const NVIDIA_PCI = { 'sys/bus/pci/devices/0000:17:00.0/class': '0x030200\n', 'sys/bus/pci/devices/0000:17:00.0/vendor': '0x10de\n' };
const NVIDIA_BRIDGE = { 'sys/bus/pci/devices/0000:00:01.0/class': '0x060400\n', 'sys/bus/pci/devices/0000:00:01.0/vendor': '0x10de\n' };

test('setup with an NVIDIA GPU on the PCI bus and no driver loaded: names what is missing, never suggests Mesa', () => {
  const m = machine('nvidia-pci', { files: NVIDIA_PCI });
  const r = run('bash scripts/setup.sh', m);
  assert.is(r.code, 1);
  assert.equal(log(m, 'apt'), []);
  assert.match(r.err, /this machine has a GPU \(nvidia\)/);
  for (const what of ['libvulkan1', 'nvidia_icd.json', '/proc/driver/nvidia']) assert.ok(r.err.includes(what), `${what} in ${r.err}`);
  assert.not.match(r.err, /mesa|lavapipe|backports/i);
});

test('engine: with NVIDIA GPU hardware but no adapter, the error names the missing Vulkan parts, not Mesa', () => {
  const m = machine('engine-nvidia', { files: NVIDIA_PCI });
  const r = cgh(['train', '--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--epochs', '1', '--out', path.join(m.dir, 'run')], m.env);
  assert.is(r.code, 1);
  const line = r.errLines.filter((l) => l.startsWith('cgh: '));
  assert.is(line.length, 1, r.stderr);
  assert.match(line[0], /NVIDIA GPU hardware/);
  for (const what of ['libvulkan.so.1', 'libglvnd', 'nvidia_icd.json', 'bash scripts/setup.sh']) assert.ok(line[0].includes(what), `${what} in ${line[0]}`);
  assert.not.match(line[0], /mesa|lavapipe|backports/i);
});

test('engine: a PCI device of NVIDIA that is not a display controller (a bridge) still gets the lavapipe advice', () => {
  const m = machine('engine-bridge', { files: NVIDIA_BRIDGE });
  const r = cgh(['train', '--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--epochs', '1', '--out', path.join(m.dir, 'run')], m.env);
  assert.is(r.code, 1);
  assert.match(r.errLines.find((l) => l.startsWith('cgh: ')) ?? '', /lavapipe/);
});

test('engine: the no-adapter error names the apt source line and no command-line flag', () => {
  const m = machine('engine-message');
  const r = cgh(['train', '--hidden', '8', '--train-subset', '200', '--test-subset', '100', '--epochs', '1', '--out', path.join(m.dir, 'run')], m.env);
  assert.is(r.code, 1);
  const line = r.errLines.filter((l) => l.startsWith('cgh: '));
  assert.is(line.length, 1, r.stderr);
  assert.ok(line[0].includes(`'${BOOKWORM_BACKPORTS}'`), line[0]);
  assert.not.match(line[0], /\s--[a-z]/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

import { test } from 'uvu';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { nodeImageDecoder } from '../engine/data/image/node-decoder.js';
import { resizeCenterCrop } from '../engine/data/image/resize.js';
import { ShardReader } from '../engine/data/shard-reader.js';
import { decodeSafetensors } from '../engine/safetensors.js';
import { checkDisk } from '../cli/prepare/command.js';
import { scanDataset } from '../cli/prepare/scan.js';
import { cgh, cghKilledWhen } from './helpers/cli.js';
import { ImageFolder, makeImageFolder } from './helpers/image-folder.js';

const tmp = mkdtempSync(join(tmpdir(), 'cgh-prepare-'));
let folder: ImageFolder;
const out = join(tmp, 'shards');
test.before(async () => { folder = await makeImageFolder(join(tmp, 'src')); });
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function allImages(dir: string, split: string): { images: Uint8Array[]; labels: number[] } {
  const r = new ShardReader(dir, split);
  const images: Uint8Array[] = [];
  for (let i = 0; i < r.count; i++) { const b = new Uint8Array(r.exampleBytes); r.readImage(i, b); images.push(b); }
  const labels = Array.from(r.labels);
  r.close();
  return { images, labels };
}

test('prepare writes shards of the decodable images in ImageFolder order, lists the corrupt file, and matches decode + resize', async () => {
  const r = cgh(['prepare', folder.root, '--out', out, '--resize', '64', '--crop', '56', '--shard-size', '64', '--workers', '2']);
  if (r.code !== 0) throw new Error(`prepare failed: ${r.errLines.join(' | ')}`);
  const manifest = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  if (manifest.splits.train.count !== folder.train.length || manifest.splits.val.count !== folder.val) {
    throw new Error(`counts ${JSON.stringify(manifest.splits)}`);
  }
  if (JSON.stringify(JSON.parse(readFileSync(join(out, 'classes.json'), 'utf8'))) !== JSON.stringify(folder.classes)) throw new Error('classes.json');
  const skipped = readFileSync(join(out, 'skipped.tsv'), 'utf8').trim().split('\n').slice(1);
  if (skipped.length !== 1 || !skipped[0].startsWith(relative(folder.root, folder.corrupt[0]) + '\t')) throw new Error(`skipped.tsv: ${skipped}`);
  // The file format: U8 images [N, 3, 56, 56] and I64 labels, as a numpy reader expects.
  const st = decodeSafetensors(readFileSync(join(out, 'train', 'shard-00000.safetensors')));
  const im = st.tensors.get('images')!, lb = st.tensors.get('labels')!;
  if (im.dtype !== 'U8' || JSON.stringify(im.shape) !== '[64,3,56,56]' || lb.dtype !== 'I64') {
    throw new Error(`shard tensors ${im.dtype} [${im.shape}], ${lb.dtype}`);
  }
  const { images, labels } = allImages(out, 'train');
  if (JSON.stringify(labels) !== JSON.stringify(folder.train.map((e) => e.label))) throw new Error('train labels are not in ImageFolder order');
  const decoder = await nodeImageDecoder();
  for (const k of [0, 1, 62, 63, 64, 100, 151, folder.train.length - 1]) {
    const want = resizeCenterCrop(await decoder.decode(readFileSync(folder.train[k].path)), 64, 56);
    if (!want.every((v, i) => v === images[k][i])) throw new Error(`example ${k} (${folder.train[k].path}) differs from decode + resize`);
  }
  const val = allImages(out, 'val');
  if (JSON.stringify(val.labels) !== JSON.stringify(Array.from({ length: folder.val }, (_, i) => (i + 1) % folder.classes.length))) {
    throw new Error(`val labels ${val.labels}`);
  }
});

test('a killed prepare resumes: finished shards are kept as they were and the result equals an uninterrupted run', async () => {
  const dir = join(tmp, 'resumed');
  const args = ['prepare', folder.root, '--out', dir, '--resize', '64', '--crop', '56', '--shard-size', '8', '--workers', '1'];
  const shards = () => (existsSync(join(dir, 'train')) ? readdirSync(join(dir, 'train')).filter((f) => f.endsWith('.safetensors')) : []);
  const killed = await cghKilledWhen(args, () => shards().length >= 2);
  if (!killed.killed || existsSync(join(dir, 'index.json'))) throw new Error('prepare finished before it could be killed; the test needs more shards');
  const before = new Map(shards().map((f) => [f, statSync(join(dir, 'train', f)).mtimeMs]));
  const total = Math.ceil((folder.train.length + folder.corrupt.length) / 8);
  if (before.size >= total) throw new Error(`all ${total} shards existed at the kill`);
  const r = cgh(args);
  if (r.code !== 0 || !/resuming: \d+ of \d+ shards already written/.test(r.stdout)) throw new Error(`resume: ${r.code} ${r.stdout} ${r.errLines}`);
  for (const [f, t] of before) if (statSync(join(dir, 'train', f)).mtimeMs !== t) throw new Error(`${f} was rewritten on resume`);
  if (readdirSync(join(dir, 'train')).some((f) => f.includes('.tmp-'))) throw new Error('temporary files left behind');
  for (const split of ['train', 'val']) {
    const a = allImages(out, split), b = allImages(dir, split);
    if (a.images.length !== b.images.length || JSON.stringify(a.labels) !== JSON.stringify(b.labels)) {
      throw new Error(`${split}: resumed run has other examples`);
    }
    for (let i = 0; i < a.images.length; i++) if (!a.images[i].every((v, k) => v === b.images[i][k])) {
      throw new Error(`${split} example ${i} differs after resume`);
    }
  }
  const again = cgh(['prepare', folder.root, '--out', dir, '--resize', '32', '--crop', '32']);
  if (again.code !== 2 || !/was prepared with --resize 64 --crop 56 --shard-size 8/.test(again.errLines[0] ?? '')) {
    throw new Error(`other sizes into the same folder: ${again.errLines}`);
  }
});

test('bad input gets one line naming the path', () => {
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const noImages = join(tmp, 'noimages');
  mkdirSync(join(noImages, 'train', 'n01'), { recursive: true });
  mkdirSync(join(noImages, 'train', 'n02'), { recursive: true });
  writeFileSync(join(noImages, 'train', 'n01', 'a.JPEG'), 'x');
  const badLabels = join(tmp, 'badlabels');
  mkdirSync(join(badLabels, 'train', 'n01'), { recursive: true });
  mkdirSync(join(badLabels, 'val'));
  writeFileSync(join(badLabels, 'train', 'n01', 'a.JPEG'), 'x');
  writeFileSync(join(badLabels, 'val', 'ILSVRC2012_val_00000001.JPEG'), 'x');
  const csv = 'ImageId,PredictionString\nILSVRC2012_val_00000001,n01 1 2 3 4\nILSVRC2012_val_00000002,n01 1 2 3 4\n';
  writeFileSync(join(badLabels, 'LOC_val_solution.csv'), csv);
  const cases: [string[], number, RegExp][] = [
    [['prepare', join(tmp, 'missing'), '--out', join(tmp, 'o1')], 1, /missing is not a folder/],
    [['prepare', empty, '--out', join(tmp, 'o2')], 1, /empty holds no class folders/],
    [['prepare', noImages, '--out', join(tmp, 'o3')], 1, /train\/n02 holds no images/],
    [['prepare', badLabels, '--out', join(tmp, 'o4')], 1, /LOC_val_solution\.csv names ILSVRC2012_val_00000002, which is not an image in .*val/],
    [['prepare', folder.root, '--out', join(tmp, 'o5'), '--resize', '32', '--crop', '56'], 2, /--crop 56 is larger than --resize 32/],
    [['prepare', folder.root], 2, /--out DIR/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = cgh(args);
    if (r.code !== code || r.errLines.length !== 1 || !pattern.test(r.errLines[0]) || !r.errLines[0].startsWith('cgh: ')) {
      throw new Error(`${args.join(' ')}: exit ${r.code}, stderr ${JSON.stringify(r.errLines)}`);
    }
  }
  for (const o of ['o1', 'o2', 'o3', 'o4', 'o5']) if (existsSync(join(tmp, o, 'index.json'))) throw new Error(`refused command wrote ${o}`);
});

test('the devkit ground truth labels a flat val folder through the synset list (ID order, not sorted order)', () => {
  const root = join(tmp, 'devkit');
  for (const c of ['n01', 'n02', 'n03']) { mkdirSync(join(root, 'train', c), { recursive: true }); writeFileSync(join(root, 'train', c, 'a.JPEG'), 'x'); }
  mkdirSync(join(root, 'val'));
  for (let i = 1; i <= 4; i++) writeFileSync(join(root, 'val', `ILSVRC2012_val_0000000${i}.JPEG`), 'x');
  writeFileSync(join(root, 'truth.txt'), '1\n3\n2\n1\n');
  writeFileSync(join(root, 'synsets.txt'), 'n03 three\nn01 one\nn02 two\n');
  const d = scanDataset(root, { valLabels: join(root, 'truth.txt'), valSynsets: join(root, 'synsets.txt') });
  const val = d.splits.find((s) => s.name === 'val')!.examples.map((e) => e.label);
  // IDs 1, 3, 2, 1 are n03, n02, n01, n03: labels 2, 1, 0, 2 in the sorted class order n01, n02, n03.
  if (val.join() !== '2,1,0,2') throw new Error(`devkit labels ${val}`);
  let msg = '';
  try { scanDataset(root, { valLabels: join(root, 'truth.txt') }); } catch (e) { msg = (e as Error).message; }
  if (!/also give --val-synsets FILE/.test(msg)) throw new Error(msg);
});

test('too little free disk is refused before writing, naming both sizes', () => {
  let msg = '';
  try { checkDisk(tmp, 2 ** 60); } catch (e) { msg = (e as Error).message; }
  if (!/GiB free but the shards need about \d+\.\d+ GiB/.test(msg) || msg.includes('\n')) throw new Error(`got "${msg}"`);
  checkDisk(tmp, 1);
});

test.run();

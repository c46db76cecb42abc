// `cgh prepare SRC --out DIR`: an image-folder dataset -> resized, centre-cropped uint8 shards (engine/data/shards.ts).
import { closeSync, existsSync, readFileSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FORMAT, MANIFEST, Manifest, shardFile } from '../../engine/data/shards.js';
import { helpText, parseArgs, UsageError } from '../args.js';
import { Progress } from '../progress.js';
import { DatasetError, scanDataset } from './scan.js';
import type { ShardJob, Skipped, WorkerMessage } from './worker.js';

const PREPARE_SPEC = {
  name: 'prepare',
  summary: 'Convert an image-folder dataset (ImageNet\'s train/<wnid>/*.JPEG and val/) into fixed-size uint8 safetensors shards for training.',
  flags: [
    { name: 'out', type: 'string', metavar: 'DIR', help: 'folder for the shards, index.json, classes.json and skipped.tsv (required)' },
    { name: 'resize', type: 'int', default: 256, min: 1, help: 'shorter side after the antialiased bilinear resize (torchvision Resize)' },
    { name: 'crop', type: 'int', default: 224, min: 1, help: 'side of the centre crop (torchvision CenterCrop); at most --resize' },
    { name: 'shard-size', type: 'int', default: 1000, min: 1, help: 'source files per shard' },
    { name: 'workers', type: 'int', default: availableParallelism(), min: 1, help: 'decoding threads; the default is this machine\'s core count' },
    {
      name: 'val-labels', type: 'string', metavar: 'FILE',
      help: 'labels of a flat val/ folder: LOC_val_solution.csv (found in SRC by default) or the devkit ground truth',
    },
    { name: 'val-synsets', type: 'string', metavar: 'FILE', help: 'with the devkit ground truth: the wnid of ILSVRC2012_ID k on line k' },
  ],
  notes: [
    'usage: cgh prepare SRC --out DIR [flags]',
    'SRC holds train/<class>/* and optionally val/ (class folders, or flat with a label file), or is itself a folder of class folders.',
    'Preprocessing is the paper\'s evaluation transform without augmentation: Resize(--resize) then CenterCrop(--crop), bit-exact with',
    'PIL\'s antialiased bilinear filter; EXIF orientation is ignored as PIL does. 32/32 or 64/56 make cheap downsampled sets; Inception-V3 uses 342/299.',
    'Killed runs resume: finished shards are kept, the rest redone. Undecodable files are listed in DIR/skipped.tsv and left out.',
  ].join('\n'),
} as const;

interface Params { resize: number; crop: number; shardSize: number }

export async function prepareCommand(argv: string[]): Promise<void> {
  const src = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
  const a = parseArgs(PREPARE_SPEC, src ? argv.slice(1) : argv);
  if (a.help) { console.log(helpText(PREPARE_SPEC)); return; }
  if (!src) throw new UsageError('give the dataset folder: cgh prepare SRC --out DIR (see cgh prepare --help)');
  if (!a.out) throw new UsageError('give the output folder with --out DIR (see cgh prepare --help)');
  if (a.crop > a.resize) throw new UsageError(`--crop ${a.crop} is larger than --resize ${a.resize}; the crop must fit inside the resized image`);
  const params: Params = { resize: a.resize, crop: a.crop, shardSize: a.shardSize };
  let dataset;
  try {
    dataset = scanDataset(src, { valLabels: a.valLabels, valSynsets: a.valSynsets });
  } catch (e) {
    if (e instanceof DatasetError) throw new Error(e.message);
    throw e;
  }
  const out = a.out;
  checkParams(out, params);

  const jobs: ShardJob[] = [];
  const done = new Map<string, { count: number; skipped: Skipped[] }>();
  for (const split of dataset.splits) {
    mkdirSync(join(out, split.name), { recursive: true });
    removeTemporaries(join(out, split.name));
    for (let s = 0; s * params.shardSize < split.examples.length; s++) {
      const file = shardFile(split.name, s);
      const examples = split.examples.slice(s * params.shardSize, (s + 1) * params.shardSize);
      const finished = readFinished(join(out, file), examples.length);
      if (finished) done.set(file, finished);
      else jobs.push({ split: split.name, index: s, out: join(out, file), examples });
    }
  }
  const pendingImages = jobs.reduce((n, j) => n + j.examples.length, 0);
  checkDisk(out, pendingImages * (3 * params.crop * params.crop + 8) + jobs.length * 65536);
  const total = dataset.splits.reduce((n, s) => n + s.examples.length, 0);
  if (done.size > 0) console.log(`resuming: ${done.size} of ${done.size + jobs.length} shards already written`);
  const what = `${params.crop}x${params.crop} (resize ${params.resize}), ${dataset.classes.length} classes`;
  console.log(`preparing ${pendingImages} of ${total} images from ${src} into ${out} at ${what}`);

  const workerData = { root: src, resize: params.resize, crop: params.crop };
  await runWorkers(jobs, Math.min(a.workers, Math.max(1, jobs.length)), workerData, pendingImages, (file, r) => done.set(file, r));

  const manifest: Manifest = {
    format: FORMAT, version: 1, resize: params.resize, crop: params.crop, shardSize: params.shardSize, classes: dataset.classes.length, splits: {},
  };
  const skipped: Skipped[] = [];
  for (const split of dataset.splits) {
    const shards = [];
    for (let s = 0; s * params.shardSize < split.examples.length; s++) {
      const file = shardFile(split.name, s);
      const r = done.get(file)!;
      shards.push({ file, count: r.count });
      skipped.push(...r.skipped);
    }
    manifest.splits[split.name] = { count: shards.reduce((n, x) => n + x.count, 0), shards };
  }
  writeAtomic(join(out, 'classes.json'), JSON.stringify(dataset.classes, null, 1) + '\n');
  const rows = skipped.map((x) => `${x.path}\t${x.reason.replace(/\s+/g, ' ')}\n`);
  writeAtomic(join(out, 'skipped.tsv'), 'path\treason\n' + rows.join(''));
  writeAtomic(join(out, MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
  const counts = Object.entries(manifest.splits).map(([k, v]) => `${k} ${v.count}`).join(', ');
  console.log(`wrote ${counts} images to ${out}; ${skipped.length} undecodable file(s)${skipped.length ? ` listed in ${join(out, 'skipped.tsv')}` : ''}`);
}

/** A folder prepared with other sizes is refused rather than mixed; the parameters are recorded before any shard. */
function checkParams(out: string, params: Params): void {
  const file = join(out, 'prepare.json');
  if (existsSync(file)) {
    let old: Params;
    try {
      old = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new Error(`${file} is not valid JSON; delete ${out} or choose another --out`);
    }
    if (old.resize !== params.resize || old.crop !== params.crop || old.shardSize !== params.shardSize) {
      const flags = `--resize ${old.resize} --crop ${old.crop} --shard-size ${old.shardSize}`;
      throw new UsageError(`${out} was prepared with ${flags}; use those flags to resume, or another --out`);
    }
    return;
  }
  mkdirSync(out, { recursive: true });
  writeAtomic(file, JSON.stringify(params) + '\n');
}

function removeTemporaries(dir: string): void {
  for (const f of readdirSync(dir)) if (/\.tmp-\d+$/.test(f)) rmSync(join(dir, f), { force: true });
}

/** A shard already written by an earlier run (its header only is read), or null when it must be (re)made. */
function readFinished(path: string, files: number): { count: number; skipped: Skipped[] } | null {
  if (!existsSync(path)) return null;
  try {
    const fd = openSync(path, 'r');
    try {
      const len = Buffer.alloc(8);
      readSync(fd, len, 0, 8, 0);
      const n = Number(len.readBigUInt64LE(0));
      const head = Buffer.alloc(n);
      readSync(fd, head, 0, n, 8);
      const h = JSON.parse(head.toString('utf8'));
      if (h.__metadata__?.files !== String(files)) return null;
      return { count: h.labels.shape[0], skipped: JSON.parse(h.__metadata__.skipped) };
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

export function checkDisk(out: string, bytes: number): void {
  const fs = statfsSync(out);
  const free = fs.bavail * fs.bsize;
  if (bytes > free) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(2);
    throw new Error(`${out} has ${gib(free)} GiB free but the shards need about ${gib(bytes)} GiB; free space or choose another --out (or a smaller --crop)`);
  }
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function runWorkers(jobs: ShardJob[], count: number, data: { root: string; resize: number; crop: number }, totalImages: number,
  onShard: (file: string, r: { count: number; skipped: Skipped[] }) => void): Promise<void> {
  if (jobs.length === 0) return Promise.resolve();
  const progress = new Progress({ rateUnit: 'images/s' });
  progress.begin('prepare', totalImages);
  let images = 0, next = 0, finished = 0;
  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    const stop = (e: Error) => { for (const w of workers) void w.terminate(); progress.clear(); reject(e); };
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
      workers.push(w);
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') { images += m.images; progress.update(images); return; }
        onShard(shardFile(m.split, m.index), { count: m.count, skipped: m.skipped });
        if (++finished === jobs.length) { for (const x of workers) void x.terminate(); progress.clear(); resolve(); return; }
        if (next < jobs.length) w.postMessage(jobs[next++]);
      });
      w.on('error', (e) => stop(e));
      if (next < jobs.length) w.postMessage(jobs[next++]);
    }
  });
}

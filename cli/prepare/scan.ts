/**
 * Finds the images of an image-folder dataset: SRC/train/<class>/* (or SRC/<class>/* when there is no train/),
 * and SRC/val either as class folders or as a flat folder with a label file: ImageNet's LOC_val_solution.csv
 * (ImageId,PredictionString whose first word is the wnid) or the devkit's ground-truth list (line i holds the
 * ILSVRC2012_ID of ILSVRC2012_val_0000000i) with a synset list (the wnid of ID k on line k). Classes are the sorted
 * train folder names, as torchvision's ImageFolder numbers them; files are sorted within each class.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** torchvision's IMG_EXTENSIONS; only JPEG and PNG decode, the rest are listed as skipped. */
const IMAGE_EXT = /\.(jpe?g|png|ppm|bmp|pgm|tiff?|webp)$/i;

export interface Example { path: string; label: number }
export interface Dataset { root: string; classes: string[]; splits: { name: 'train' | 'val'; examples: Example[] }[] }

export interface ScanOptions { valLabels?: string; valSynsets?: string }

function entries(dir: string): { name: string; dir: boolean }[] {
  let list;
  try {
    list = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`cannot read ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a readable dataset folder`);
  }
  return list
    .map((d) => ({ name: d.name, dir: d.isDirectory() || (d.isSymbolicLink() && isDir(join(dir, d.name))) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

function images(dir: string): string[] {
  return entries(dir).filter((e) => !e.dir && IMAGE_EXT.test(e.name)).map((e) => join(dir, e.name));
}

function classFolders(dir: string, classes: string[] | null, root: string): { classes: string[]; examples: Example[] } {
  const folders = entries(dir).filter((e) => e.dir).map((e) => e.name);
  if (folders.length === 0) throw new DatasetError(`${dir} holds no class folders; give a folder of <class>/<image> folders (torchvision ImageFolder layout)`);
  const names = classes ?? folders;
  const examples: Example[] = [];
  for (const f of folders) {
    const label = names.indexOf(f);
    if (label < 0) {
      const where = relative(root, dir) === 'val' ? 'train' : 'the training set';
      throw new DatasetError(`${join(dir, f)} is a class the training set does not have; remove it or add it to ${where}`);
    }
    const files = images(join(dir, f));
    if (files.length === 0) throw new DatasetError(`${join(dir, f)} holds no images; remove the empty class folder or add its images`);
    for (const path of files) examples.push({ path, label });
  }
  return { classes: names, examples };
}

export function scanDataset(root: string, opts: ScanOptions = {}): Dataset {
  if (!isDir(root)) throw new DatasetError(`${root} is not a folder; give the dataset folder (holding train/ and val/, or class folders)`);
  const trainDir = isDir(join(root, 'train')) ? join(root, 'train') : root;
  const train = classFolders(trainDir, null, root);
  const splits: Dataset['splits'] = [{ name: 'train', examples: train.examples }];
  const valDir = join(root, 'val');
  if (trainDir !== root && isDir(valDir)) splits.push({ name: 'val', examples: scanVal(root, valDir, train.classes, opts) });
  else if (opts.valLabels) throw new DatasetError(`--val-labels was given but ${valDir} is not a folder; put the validation images there`);
  return { root, classes: train.classes, splits };
}

function scanVal(root: string, dir: string, classes: string[], opts: ScanOptions): Example[] {
  const hasFolders = entries(dir).some((e) => e.dir);
  if (hasFolders && !opts.valLabels) return classFolders(dir, classes, root).examples;
  const files = images(dir);
  if (files.length === 0) throw new DatasetError(`${dir} holds no images; put the validation images there (flat, with --val-labels, or in class folders)`);
  const labelFile = opts.valLabels ?? [join(root, 'LOC_val_solution.csv'), join(dir, 'LOC_val_solution.csv')].find((p) => isFile(p));
  if (!labelFile) {
    const fix = 'give --val-labels LOC_val_solution.csv (or the devkit ground truth with --val-synsets)';
    throw new DatasetError(`${dir} is a flat folder of images without labels; ${fix}`);
  }
  const byId = labelFile.endsWith('.csv') ? readSolutionCsv(labelFile) : readDevkitTruth(labelFile, opts.valSynsets);
  const examples: Example[] = [];
  const known = new Set<string>();
  for (const path of files) {
    const id = basename(path).replace(/\.[^.]*$/, '');
    known.add(id);
    const wnid = byId.get(id);
    if (wnid === undefined) throw new DatasetError(`${path} has no label in ${labelFile}; give the label file that belongs to these images`);
    const label = classes.indexOf(wnid);
    if (label < 0) throw new DatasetError(`${labelFile} labels ${id} as ${wnid}, which is not a class folder of the training set; check the label file`);
    examples.push({ path, label });
  }
  for (const id of byId.keys()) {
    if (!known.has(id)) {
      throw new DatasetError(`${labelFile} names ${id}, which is not an image in ${dir}; give the complete validation folder or its own label file`);
    }
  }
  return examples;
}

function isFile(p: string): boolean {
  try { return statSync(p).isFile(); } catch { return false; }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a readable label file`);
  }
}

/** LOC_val_solution.csv: "ImageId,PredictionString" then "ILSVRC2012_val_00000001,n01751748 x y x y ...". */
function readSolutionCsv(path: string): Map<string, string> {
  const lines = readText(path).split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!/^ImageId,PredictionString$/.test(lines[0] ?? '')) {
    throw new DatasetError(`${path} does not start with "ImageId,PredictionString"; give ImageNet's LOC_val_solution.csv`);
  }
  const out = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const m = /^([^,]+),\s*(n\d+)/.exec(lines[i]);
    if (!m) throw new DatasetError(`${path} line ${i + 1} is not "ImageId,wnid ..."; give ImageNet's LOC_val_solution.csv`);
    out.set(m[1], m[2]);
  }
  return out;
}

/** The devkit's ILSVRC2012_validation_ground_truth.txt labels the sorted validation files in order with 1-based IDs. */
function readDevkitTruth(path: string, synsets: string | undefined): Map<string, string> {
  if (!synsets) {
    throw new DatasetError(`${path} holds ILSVRC2012_IDs; also give --val-synsets FILE with the wnid of ID k on line k (the devkit's meta.mat order)`);
  }
  const wnids = readText(synsets).split(/\r?\n/).filter((l) => l.trim() !== '').map((l) => l.trim().split(/[\s,]+/)[0]);
  const ids = readText(path).split(/\r?\n/).filter((l) => l.trim() !== '');
  const out = new Map<string, string>();
  ids.forEach((line, i) => {
    const id = Number(line.trim());
    if (!Number.isInteger(id) || id < 1 || id > wnids.length) {
      throw new DatasetError(`${path} line ${i + 1} is "${line}", not an ID from 1 to ${wnids.length}; check the ground-truth file`);
    }
    out.set(`ILSVRC2012_val_${String(i + 1).padStart(8, '0')}`, wnids[id - 1]);
  });
  return out;
}

// A small ImageNet-like folder for the prepare and training tests: train/<wnid>/*.JPEG over several kinds
// and sizes (baseline, progressive, 4:4:4, grey, CMYK, a PNG named .JPEG, one truncated file) and a flat val/
// folder with LOC_val_solution.csv.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../engine/random.js';
import { CMYK_JPEG, jpeg, JpegKind, picture, png } from './images.js';

export interface ImageFolder { root: string; classes: string[]; train: { path: string; label: number }[]; corrupt: string[]; val: number }

const KINDS: JpegKind[] = ['baseline420', 'progressive420', 'baseline444', 'grey', 'progressive444'];

export async function makeImageFolder(root: string, classes = 10, perClass = 30, valCount = 20): Promise<ImageFolder> {
  const rng = new Rng(2024);
  const names = Array.from({ length: classes }, (_, c) => `n0${1000000 + 7919 * c}`);
  const train: ImageFolder['train'] = [];
  const corrupt: string[] = [];
  let serial = 0;
  const oneImage = async (): Promise<Uint8Array> => {
    const k = serial++;
    const w = k % 50 === 7 ? 500 : 24 + rng.int(120), h = k % 50 === 7 ? 375 : 24 + rng.int(120);
    const rgb = picture(w, h, k);
    if (k % 41 === 5) return png(rgb, w, h, k % 2 ? 3 : 4);
    return jpeg(rgb, w, h, KINDS[k % KINDS.length], 85 + (k % 10));
  };
  for (let c = 0; c < classes; c++) {
    const dir = join(root, 'train', names[c]);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const path = join(dir, `${names[c]}_${String(i).padStart(4, '0')}.JPEG`);
      if (c === 2 && i === 3) copyFileSync(CMYK_JPEG, path);
      else if (c === 4 && i === 11) {
        const bytes = await oneImage();
        writeFileSync(path, bytes.subarray(0, bytes.length >> 1));
        corrupt.push(path);
        continue;
      } else writeFileSync(path, await oneImage());
      train.push({ path, label: c });
    }
  }
  mkdirSync(join(root, 'val'));
  const rows = ['ImageId,PredictionString'];
  for (let i = 1; i <= valCount; i++) {
    const id = `ILSVRC2012_val_${String(i).padStart(8, '0')}`;
    writeFileSync(join(root, 'val', `${id}.JPEG`), await oneImage());
    rows.push(`${id},${names[i % classes]} 1 2 30 40 ${names[i % classes]} 3 4 20 20`);
  }
  writeFileSync(join(root, 'LOC_val_solution.csv'), rows.join('\n') + '\n');
  return { root, classes: names, train, corrupt, val: valCount };
}

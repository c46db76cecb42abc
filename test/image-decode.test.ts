import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageDecodeError, ImageDecoder, sniff } from '../engine/data/image/decode.js';
import { nodeImageDecoder } from '../engine/data/image/node-decoder.js';
import { CMYK_JPEG, CMYK_PIL_RGB, jpeg, JpegKind, picture, png } from './helpers/images.js';

const tmp = mkdtempSync(join(tmpdir(), 'cgh-decode-'));
let decoder: ImageDecoder;
test.before(async () => { decoder = await nodeImageDecoder(); });
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** libjpeg-turbo's own decode (djpeg, Debian's libjpeg-turbo-progs) as raw RGB or grey bytes. */
function djpeg(bytes: Uint8Array): { width: number; height: number; channels: number; data: Uint8Array } {
  const file = join(tmp, 'ref.jpg');
  writeFileSync(file, bytes);
  const r = spawnSync('djpeg', ['-pnm', file]);
  if (r.error) throw new Error(`djpeg is needed as the reference decoder (${r.error.message}); apt-get install libjpeg-turbo-progs`);
  const out = r.stdout as Buffer;
  const head = /^P([56])\s+(\d+)\s+(\d+)\s+255\s/.exec(out.subarray(0, 40).toString('latin1'));
  if (!head) throw new Error(`djpeg output is not a PNM: ${out.subarray(0, 20).toString('latin1')}`);
  return { width: +head[2], height: +head[3], channels: head[1] === '6' ? 3 : 1, data: out.subarray(head[0].length) };
}

/** The frame type and the luma sampling factors, to be sure each encoded kind is what its name says. */
function frame(bytes: Uint8Array): { progressive: boolean; components: number; sampling: number } {
  for (let p = 2; p + 12 < bytes.length;) {
    const m = bytes[p + 1];
    if (m === 0xc0 || m === 0xc2) return { progressive: m === 0xc2, components: bytes[p + 9], sampling: bytes[p + 11] };
    p += 2 + ((bytes[p + 2] << 8) | bytes[p + 3]);
  }
  throw new Error('no frame header');
}

const kinds: [JpegKind, boolean, number, number][] = [
  ['baseline420', false, 3, 0x22], ['progressive420', true, 3, 0x22], ['baseline444', false, 3, 0x11], ['progressive444', true, 3, 0x11],
  ['grey', false, 1, 0x11],
];

test('JPEG decodes exactly as libjpeg-turbo does: baseline and progressive, 4:2:0 and 4:4:4, grey, odd sizes', async () => {
  for (const [w, h] of [[500, 375], [37, 23], [64, 81]]) {
    const rgb = picture(w, h, w);
    for (const [kind, progressive, components, sampling] of kinds) {
      const bytes = await jpeg(rgb, w, h, kind);
      const f = frame(bytes);
      if (f.progressive !== progressive || f.components !== components || f.sampling !== sampling) throw new Error(`${kind} encoded as ${JSON.stringify(f)}`);
      const got = await decoder.decode(bytes);
      const ref = djpeg(bytes);
      if (got.width !== w || got.height !== h || ref.width !== w) throw new Error(`${kind} ${w}x${h}: decoded ${got.width}x${got.height}`);
      for (let i = 0; i < w * h; i++) {
        for (let c = 0; c < 3; c++) {
          const want = ref.data[i * ref.channels + (ref.channels === 1 ? 0 : c)];
          if (got.data[3 * i + c] !== want) {
            throw new Error(`${kind} ${w}x${h}: pixel ${i} channel ${c} is ${got.data[3 * i + c]}, libjpeg-turbo gives ${want}`);
          }
        }
      }
    }
  }
});

test('Adobe CMYK JPEG matches PIL\'s convert(\'RGB\') within one level', async () => {
  const got = await decoder.decode(readFileSync(CMYK_JPEG));
  const want = readFileSync(CMYK_PIL_RGB);
  if (sniff(readFileSync(CMYK_JPEG)) !== 'jpeg-cmyk') throw new Error('fixture is not a 4-component JPEG');
  if (got.width !== 61 || got.height !== 47) throw new Error(`size ${got.width}x${got.height}`);
  let off = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got.data[i] - want[i]);
    if (d > 1) throw new Error(`byte ${i}: ${got.data[i]} vs PIL ${want[i]}`);
    off += d;
  }
  if (off / want.length > 0.2) throw new Error(`mean difference ${off / want.length} from PIL is too large`);
});

test('PNG files (also when named .JPEG) decode to their pixels: RGB, grey replicated, alpha dropped', async () => {
  const [w, h] = [33, 19];
  const rgb = picture(w, h, 3);
  for (const channels of [3, 1, 4] as const) {
    const got = await decoder.decode(png(rgb, w, h, channels));
    for (let i = 0; i < w * h; i++) {
      for (let c = 0; c < 3; c++) {
        const want = rgb[3 * i + (channels === 1 ? 0 : c)];
        if (got.data[3 * i + c] !== want) throw new Error(`PNG ${channels} channels: pixel ${i}.${c} = ${got.data[3 * i + c]}, want ${want}`);
      }
    }
  }
});

test('EXIF orientation is ignored, as PIL and torchvision do', async () => {
  const [w, h] = [40, 24];
  const bytes = await jpeg(picture(w, h, 9), w, h, 'baseline420');
  // APP1 "Exif\0\0", little-endian TIFF, one IFD entry: Orientation (0x0112) = 6 (rotate 90).
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const app1 = [0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];
  const rotated = new Uint8Array([...bytes.subarray(0, 2), ...app1, ...bytes.subarray(2)]);
  const a = await decoder.decode(bytes), b = await decoder.decode(rotated);
  if (b.width !== w || b.height !== h || !a.data.every((v, i) => v === b.data[i])) throw new Error('EXIF orientation changed the decoded image');
});

test('truncated and corrupt files are ImageDecodeErrors, and the decoder keeps working after them', async () => {
  const [w, h] = [120, 90];
  const good = await jpeg(picture(w, h, 4), w, h, 'progressive420');
  const bad: [string, Uint8Array][] = [
    ['truncated JPEG', good.subarray(0, good.length >> 1)],
    ['header-only JPEG', good.subarray(0, 200)],
    ['random bytes', new Uint8Array(500).fill(7)],
    ['empty file', new Uint8Array(0)],
    ['truncated PNG', png(picture(w, h, 4), w, h).subarray(0, 300)],
  ];
  for (const [name, bytes] of bad) {
    let err: unknown;
    try { await decoder.decode(bytes); } catch (e) { err = e; }
    if (!(err instanceof ImageDecodeError)) throw new Error(`${name}: expected an ImageDecodeError, got ${err === undefined ? 'an image' : String(err)}`);
  }
  const again = await decoder.decode(good);
  if (again.width !== w || again.height !== h) throw new Error('decoder broken after errors');
});

test.run();

// An ImageDecoder in Node: compiles the MozJPEG wasm shipped with @jsquash/jpeg from node_modules.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ImageDecoder } from './decode.js';

let wasm: WebAssembly.Module | undefined;

export async function nodeImageDecoder(): Promise<ImageDecoder> {
  if (!wasm) {
    const dir = dirname(createRequire(import.meta.url).resolve('@jsquash/jpeg/package.json'));
    wasm = await WebAssembly.compile(readFileSync(join(dir, 'codec', 'dec', 'mozjpeg_dec.wasm')));
  }
  return ImageDecoder.create(wasm);
}

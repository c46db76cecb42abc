// A small real file system for the full-disk and read-only tests: a tmpfs mounted for the test (needs root).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallDisk { dir: string; readOnly(): void; unmount(): void }

/** Mounts a tmpfs of `bytes` bytes on a fresh folder, or returns the reason it cannot (not root, no mount). */
export function mountTmpfs(bytes: number): SmallDisk | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmdirSync(dir);
    return `cannot mount a tmpfs (${(r.stderr || r.error?.message || 'mount failed').trim()})`;
  }
  return {
    dir,
    readOnly: () => {
      const ro = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      if (ro.status !== 0) throw new Error(`remount read-only failed: ${ro.stderr}`);
    },
    unmount: () => {
      spawnSync('umount', [dir]);
      fs.rmdirSync(dir);
    },
  };
}

// Node only: what a path given as an input file really is, checked before it is opened (reading a named pipe blocks forever).
import fs from 'node:fs';

/**
 * Null when `file` is a regular file (or a link to one); otherwise one line saying what it is instead, ending in
 * `fix`. Missing files are left to the caller, which knows what should have been there.
 */
export function notARegularFile(file: string, fix: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return `${file} is a symbolic link that loops back on itself; ${fix}`;
    if (code === 'ENOENT' && isLink(file)) return `${file} is a symbolic link to ${fs.readlinkSync(file)}, which does not exist; ${fix}`;
    if (code === 'ENOENT') return null;
    if (code === 'EACCES') return `${file} cannot be read (no permission); check its permissions, or ${fix}`;
    return `${file} cannot be examined (${code ?? (e as Error).message}); ${fix}`;
  }
  if (st.isFile()) return null;
  const kind = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a named pipe' : st.isSocket() ? 'a socket'
    : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : 'not a regular file';
  return `${file} is ${kind}, not a regular file; ${fix}`;
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

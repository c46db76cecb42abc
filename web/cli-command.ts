// The cgh train command that repeats the page's run (same settings and seed give the same numbers).
import type { PageConfig } from './session.js';
import { settingsFlags } from '../experiments/run/settings-flags.js';

/** The command line, or why there is none (cgh train does not add label noise). */
export function trainCommandLine(c: PageConfig): { line: string } | { why: string } {
  if (c.noise && c.noise > 0) return { why: 'cgh train does not add label noise; the label-noise experiment (cgh experiment) does, with its own seeding' };
  const flags = ['cgh', 'train', ...settingsFlags({ ...c }), ...(c.dataset !== 'mnist' ? ['--data-dir', 'DIR'] : [])];
  const line = flags.join(' ');
  return { line: c.dataset !== 'mnist' ? `${line}   (DIR: a folder holding ${c.dataFiles?.join(', ')}, named as MNIST's files)` : line };
}

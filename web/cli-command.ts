// The cgh train command that repeats the page's run (same settings and seed give the same numbers).
import type { PageConfig } from './session.js';
import { settingsFlags } from '../experiments/run/settings-flags.js';

/** The command line, or why there is none. Label noise draws from the seed in both, so a noisy run has its twin too. */
export function trainCommandLine(c: PageConfig): { line: string } | { why: string } {
  if (c.dataSeed !== undefined && c.dataSeed !== c.seed) return { why: 'cgh train draws label noise from --seed, and this run has another data seed' };
  const flags = ['cgh', 'train', ...settingsFlags({ ...c }), ...(c.dataset !== 'mnist' ? ['--data-dir', 'DIR'] : [])];
  const line = flags.join(' ');
  return { line: c.dataset !== 'mnist' ? `${line}   (DIR: a folder holding ${c.dataFiles?.join(', ')}, named as MNIST's files)` : line };
}

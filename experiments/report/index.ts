import fs from 'node:fs';
import path from 'node:path';
import { RunError } from '../run-folder.js';
import { EXPERIMENT_FILE } from '../grid.js';
import { loadExperiment, type LoadedExperiment } from './data.js';
import { csvName, renderPage, tableCsv, type Section } from './html.js';
import { labelNoiseSection } from './label-noise.js';
import { suppressionSection } from './suppression.js';
import { winsorizeSection } from './winsorize.js';
import { easyHardSection } from './easy-hard.js';
import { difficultySection } from './difficulty.js';
import { antiAdversarialSection } from './anti-adversarial.js';
import { writeFileAtomic } from '../files/durable-file.js';

/**
 * `cgh report DIR`: report.html (and one CSV per table) for an experiment folder, or for a folder of
 * experiments such as cgh reproduce writes, with every experiment's section on one page.
 */
const SECTIONS: Record<string, (e: LoadedExperiment) => Section> = {
  'label-noise': labelNoiseSection,
  suppression: suppressionSection,
  winsorize: winsorizeSection,
  'easy-hard': easyHardSection,
  difficulty: difficultySection,
  'anti-adversarial': antiAdversarialSection,
};
const ORDER = Object.keys(SECTIONS);

export const REPORT_FILE = 'report.html';
/** Written by cgh reproduce: its command, timing and adapter, shown on top of the report. */
export const REPRODUCE_FILE = 'reproduce.json';

/** Experiment folders under `dir`: itself, or its subfolders holding experiment.json, in the paper's order. */
export function experimentFolders(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new RunError(`${dir} is not a folder; give the --out folder of cgh experiment or cgh reproduce`);
  if (fs.existsSync(path.join(dir, EXPERIMENT_FILE))) return [dir];
  const subs = fs.readdirSync(dir).map((n) => path.join(dir, n)).filter((p) => fs.existsSync(path.join(p, EXPERIMENT_FILE)));
  if (subs.length === 0) throw new RunError(`${dir} holds no experiment (no ${EXPERIMENT_FILE} in it or its subfolders); give the --out folder of cgh experiment or cgh reproduce`);
  const kind = (p: string) => {
    const k = ORDER.indexOf(JSON.parse(fs.readFileSync(path.join(p, EXPERIMENT_FILE), 'utf8')).experiment);
    return k < 0 ? ORDER.length : k;
  };
  return subs.sort((a, b) => kind(a) - kind(b));
}

export function buildSections(dir: string): Section[] {
  return experimentFolders(dir).map((root) => {
    const e = loadExperiment(root);
    const build = SECTIONS[e.spec.experiment];
    if (!build) throw new RunError(`${root} holds an experiment of unknown kind "${e.spec.experiment}"; this build reports ${ORDER.join(', ')}`);
    return build(e);
  });
}

/** Writes report.html and the CSVs into `dir`; returns the page's path. A reproduce.json there adds its lines on top. */
export function writeReport(dir: string): string {
  const sections = buildSections(dir);
  const reproduceFile = path.join(dir, REPRODUCE_FILE);
  const intro: string[] = fs.existsSync(reproduceFile) ? (JSON.parse(fs.readFileSync(reproduceFile, 'utf8')).intro ?? []) : [];
  const title = sections.length === 1 ? `Coherent Gradients: ${sections[0].title}` : 'Coherent Gradients: the paper\'s experiments at small scale';
  const html = renderPage({
    title,
    intro: [
      ...intro,
      'Each figure mirrors a panel of "Weak and Strong Gradient Directions: Explaining Memorization, Generalization, and Hardness of Examples at Scale". Beside it are the paper\'s predictions and whether this run agrees, computed from the metrics in the run folders. Accuracy is top-1.',
    ],
    sections,
  });
  for (const s of sections) for (const t of s.tables) writeFileAtomic(path.join(dir, csvName(s, t)), tableCsv(t));
  const file = path.join(dir, REPORT_FILE);
  writeFileAtomic(file, html);
  return file;
}


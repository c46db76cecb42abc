import fs from 'node:fs';
import path from 'node:path';
import { RunError } from '../run/run-folder.js';
import { EXPERIMENT_FILE } from '../protocols/experiment-folder.js';
import { findProtocol, protocolNames } from '../protocols/index.js';
import { loadExperiment } from './data.js';
import { csvName, renderPage, tableCsv, type Section } from './html.js';
import { writeFileAtomic } from '../files/durable-file.js';

/**
 * `cgh report DIR`: report.html (and one CSV per table) for an experiment folder, or for a folder of
 * experiments such as cgh reproduce writes, with every experiment's section (its protocol's) on one page.
 */

export const REPORT_FILE = 'report.html';
/** Written by cgh reproduce: its command, timing and adapter, shown on top of the report. */
export const REPRODUCE_FILE = 'reproduce.json';

/** Experiment folders under `dir`: itself, or its subfolders holding experiment.json, in the paper's order. */
export function experimentFolders(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new RunError(`${dir} is not a folder; give the --out folder of cgh experiment or cgh `
    + `reproduce`);
  if (fs.existsSync(path.join(dir, EXPERIMENT_FILE))) return [dir];
  const subs = fs.readdirSync(dir).map((n) => path.join(dir, n)).filter((p) => fs.existsSync(path.join(p, EXPERIMENT_FILE)));
  if (subs.length === 0) throw new RunError(`${dir} holds no experiment (no ${EXPERIMENT_FILE} in it or its subfolders); give the --out folder of cgh `
    + `experiment or cgh reproduce`);
  const order = protocolNames();
  const kind = (p: string) => {
    const k = order.indexOf(JSON.parse(fs.readFileSync(path.join(p, EXPERIMENT_FILE), 'utf8')).experiment);
    return k < 0 ? order.length : k;
  };
  return subs.sort((a, b) => kind(a) - kind(b));
}

export function buildSections(dir: string): Section[] {
  const nested = !fs.existsSync(path.join(dir, EXPERIMENT_FILE));
  return experimentFolders(dir).map((root) => {
    const e = loadExperiment(root);
    const protocol = findProtocol(e.spec.experiment);
    if (!protocol) throw new RunError(`${root} holds an experiment of unknown kind "${e.spec.experiment}"; this build reports ${protocolNames().join(', ')}`);
    const section = protocol.report(e);
    // A second grid of one experiment (cgh reproduce's winsorize-iclr) gets its folder's name as its id, so anchors and CSVs stay apart.
    const folder = path.basename(root);
    if (!nested || folder === section.id || folder === e.spec.experiment) return section;
    return { ...section, id: folder, title: `${section.title} (${folder})` };
  });
}

/** Writes report.html and the CSVs into `dir`; returns the page's path. A reproduce.json there adds its lines on top. */
export function writeReport(dir: string): string {
  const sections = buildSections(dir);
  const reproduceFile = path.join(dir, REPRODUCE_FILE);
  const recorded = fs.existsSync(reproduceFile) ? (JSON.parse(fs.readFileSync(reproduceFile, 'utf8')) as { intro?: string[]; quick?: boolean }) : {};
  const intro: string[] = recorded.intro ?? [];
  const title = sections.length === 1 ? `Coherent Gradients: ${sections[0].title}` : 'Coherent Gradients: the paper\'s experiments at small scale';
  const html = renderPage({
    title,
    intro: [
      ...intro,
      'Each figure mirrors a panel of "Weak and Strong Gradient Directions: Explaining Memorization, Generalization, and Hardness of Examples at Scale". '
        + 'Beside it are the paper\'s predictions and whether this run agrees, computed from the metrics in the run folders. Accuracy is top-1.',
    ],
    sections,
    smoke: recorded.quick === true,
  });
  for (const s of sections) for (const t of s.tables) writeFileAtomic(path.join(dir, csvName(s, t)), tableCsv(t));
  const file = path.join(dir, REPORT_FILE);
  writeFileAtomic(file, html);
  return file;
}


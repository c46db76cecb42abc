import fs from 'node:fs';
import path from 'node:path';
import { RunError } from '../run/run-folder.js';
import { makeFolder, removeStaleTempFiles, writeFileAtomic } from '../files/durable-file.js';
import { lockFolder } from '../files/folder-lock.js';
import type { TrainSettings } from '../run/grid-run.js';

/**
 * An experiment: a grid of runs in one folder. experiment.json records what was asked (the experiment,
 * preset, settings and options) and the exact command; each run lives in its own subfolder. Running
 * the same command again resumes: finished runs are read back, an interrupted one continues from its
 * last checkpoint, and settings that differ from the folder's are refused before anything is written.
 */
export interface ExperimentSpec {
  experiment: string;
  preset: string;
  settings: TrainSettings;
  /** The experiment's own parameters (noise levels, rules, thresholds...). */
  options: Record<string, unknown>;
  /** The command line that produced it, for the report. */
  command: string;
  version?: string;
}

export const EXPERIMENT_FILE = 'experiment.json';

/**
 * Creates the folder with its experiment.json, or checks that the one there holds the same experiment with
 * the same settings (options named in `mutable` may differ; the latest are recorded). Returns the spec in force.
 */
export function openExperimentFolder(root: string, spec: ExperimentSpec, mutable: readonly string[] = []): ExperimentSpec {
  const file = path.join(root, EXPERIMENT_FILE);
  if (fs.existsSync(root) && !fs.statSync(root).isDirectory()) throw new RunError(`${root} is a file, not an experiment folder; choose another --out`);
  if (fs.existsSync(root)) takeFolder(root);
  if (!fs.existsSync(file)) {
    makeFolder(root);
    takeFolder(root);
    writeSpec(file, spec);
    return spec;
  }
  const there = readSpec(root);
  if (there.experiment !== spec.experiment) throw new RunError(`${root} holds a ${there.experiment} experiment, not ${spec.experiment}; choose another --out`);
  const differ = diffKeys({ preset: there.preset, ...there.settings, ...there.options }, { preset: spec.preset, ...spec.settings, ...spec.options }, mutable);
  if (differ.length > 0) {
    throw new RunError(`${root} holds a ${spec.experiment} experiment with other settings (${differ.slice(0, 3).join('; ')}); `
      + `rerun with its flags (${there.command}) or choose another --out`);
  }
  if (diffKeys(there.options, spec.options).length === 0) return { ...spec, command: there.command };
  // Only mutable options differ; record the latest.
  writeSpec(file, { ...there, options: spec.options, command: spec.command });
  return spec;
}

export function readSpec(root: string): ExperimentSpec {
  const file = path.join(root, EXPERIMENT_FILE);
  let spec: ExperimentSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(code === 'ENOENT' ? `${root} holds no ${EXPERIMENT_FILE}; give the folder of a cgh experiment or cgh `
      + `reproduce` : `${file} is not valid JSON; restore it or run the experiment again in another --out`);
  }
  if (!spec || typeof spec !== 'object' || typeof spec.experiment !== 'string' || !spec.settings) throw new RunError(`${file} is not an experiment `
    + `description; restore it or choose another folder`);
  return spec;
}

/** One process per experiment folder (its runs' folders are locked too); temporary files of killed ones are removed. */
function takeFolder(root: string): void {
  lockFolder(root, 'experiment folder');
  removeStaleTempFiles(root);
}

function writeSpec(file: string, spec: ExperimentSpec): void {
  writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n');
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>, ignored: readonly string[] = []): string[] {
  const ignore = new Set(['evalBatchSize', 'dataDir', ...ignored]);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.has(k));
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k}: ${JSON.stringify(a[k]) ?? 'unset'} there, `
    + `${JSON.stringify(b[k]) ?? 'unset'} now`);
}

import { Experiment, type ExperimentOptions } from './grid.js';
import { loadExperimentData } from './experiment-data.js';
import type { TrainSettings } from './experiment-run.js';
import type { ExperimentName } from './presets.js';
import { labelNoiseExperiment, type LabelNoiseOptions } from './label-noise-experiment.js';
import { suppressionExperiment, validateSuppressionRules, type SuppressionOptions } from './suppression.js';
import { validateWinsorizeLevels, winsorizeExperiment, type WinsorizeOptions } from './winsorize-experiment.js';
import { easyHardExperiment, validateThreshold, type EasyHardOptions } from './easy-hard.js';
import { difficultyExperiment, type DifficultyOptions } from './difficulty.js';
import { antiAdversarialExperiment, validateAccuracyTarget, type AntiAdversarialOptions } from './anti-adversarial.js';
import { validateNoiseLevel } from './label-noise.js';
import { writeReport } from './report/index.js';

export interface ExperimentOptionsByName {
  'label-noise': LabelNoiseOptions;
  suppression: SuppressionOptions;
  winsorize: WinsorizeOptions;
  'easy-hard': EasyHardOptions;
  difficulty: DifficultyOptions;
  'anti-adversarial': AntiAdversarialOptions;
}

export interface ExperimentRequest<E extends ExperimentName = ExperimentName> {
  preset: string;
  settings: TrainSettings;
  options: ExperimentOptionsByName[E];
  /** Epoch budget of the runs that stop at a threshold (easy-hard, difficulty). */
  thresholdEpochs: number;
  /** Epoch budget of each anti-adversarial run. */
  antiEpochs: number;
  command: string;
  version?: string;
}

/** Options that may change between a first attempt and its rerun (runs that used them guard themselves). */
const MUTABLE: Partial<Record<ExperimentName, string[]>> = { 'easy-hard': ['easyTrain', 'easyTest', 'hardTrain', 'hardTest'] };

/** Checks the experiment's own options before anything is loaded or written. */
export function validateRequest(exp: ExperimentName, r: ExperimentRequest): void {
  const o = r.options as unknown as Record<string, unknown>;
  for (const p of (o.noise as number[] | undefined) ?? []) validateNoiseLevel(p);
  if (exp === 'suppression') validateSuppressionRules((o.rules as string[]) ?? []);
  if (exp === 'winsorize') validateWinsorizeLevels((o.levels as number[]) ?? [], r.settings.batchSize);
  if (exp === 'easy-hard' || exp === 'difficulty') validateThreshold(o.threshold as number);
  if (exp === 'anti-adversarial') {
    validateAccuracyTarget(o.target as number, '--target');
    validateAccuracyTarget(o.goal as number, '--goal');
  }
}

/**
 * Runs one experiment into `out` (resuming what is there) and writes its report; returns the report's
 * path. Data and options are checked before the folder is created or touched.
 */
export async function runExperiment(exp: ExperimentName, out: string, r: ExperimentRequest, opts: ExperimentOptions = {}): Promise<string> {
  validateRequest(exp, r);
  const data = await loadExperimentData(r.settings);
  const phase = exp === 'easy-hard' || exp === 'difficulty' ? { thresholdEpochs: r.thresholdEpochs } : exp === 'anti-adversarial' ? { antiEpochs: r.antiEpochs } : {};
  const e = Experiment.open(out, { experiment: exp, preset: r.preset, settings: r.settings, options: { ...r.options, ...phase }, command: r.command, version: r.version }, opts, MUTABLE[exp] ?? []);
  switch (exp) {
    case 'label-noise': await labelNoiseExperiment(e, data, r.options as LabelNoiseOptions); break;
    case 'suppression': await suppressionExperiment(e, data, r.options as SuppressionOptions); break;
    case 'winsorize': await winsorizeExperiment(e, data, r.options as WinsorizeOptions); break;
    case 'easy-hard': await easyHardExperiment(e, data, r.options as EasyHardOptions, r.thresholdEpochs); break;
    case 'difficulty': await difficultyExperiment(e, data, r.options as DifficultyOptions, r.thresholdEpochs); break;
    case 'anti-adversarial': await antiAdversarialExperiment(e, data, r.options as AntiAdversarialOptions, r.antiEpochs); break;
  }
  return writeReport(out);
}

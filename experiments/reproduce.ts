import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../engine/context.js';
import type { ExperimentOptions } from './grid.js';
import { presetSettings, type ExperimentName } from './presets.js';
import { runExperiment, type ExperimentOptionsByName, type ExperimentRequest } from './run-experiment.js';
import type { TrainSettings } from './experiment-run.js';
import { REPRODUCE_FILE, writeReport } from './report/index.js';
import { writeFileAtomic } from './files/durable-file.js';

/**
 * `cgh reproduce`: every experiment of the paper at small scale on the embedded MNIST, sized to finish in
 * under 20 minutes on a 2-core machine whose GPU is emulated on the CPU (Mesa lavapipe), then one report.
 * Each experiment lives in its own subfolder and resumes like cgh experiment.
 */
export const REPRODUCE_NOTES = `What it runs (preset mnist-small: an MLP with one hidden layer of 128 on the first 1,000 MNIST
training images, 500 test images, batch 50, lr 0.1, constant rate, dense early evaluation):
  label-noise       SGD, momentum 0.9, noise 0/25/50/75/100%, 15 epochs
  suppression       SGD, RA3, RM3, M3 (batch 20; M3 21 = 3 x 7), momentum 0, noise 0/50/100%, 15 epochs
  winsorize         s = 0, 2, 4, batch 32, momentum 0, the first 500 images, noise 0/100%, 25 epochs
  easy-hard         the first 3,000 images; SGD (momentum 0.9) to 50% training accuracy, then e/h splits
                    in the paper's 5:1 proportions, 10 epochs on each
  difficulty        8 easy/hard classifications, then RM3 and SGD (batch 20, momentum 0) for 15 epochs
  anti-adversarial  clean pre-training to 100% training accuracy, then 100%-noise labels from those
                    weights and from random ones until 90% (budget 40 epochs each)
Small batches make the median rules' suppression visible at this scale (the paper notes that larger
batches make RM3 behave more like SGD). Kill it at any time and run the same command again: finished
runs are kept, the interrupted one resumes from its last epoch. The report is <out>/report.html, with one
CSV per table beside it; each part's report.html is in its own folder.`;

interface Plan<E extends ExperimentName = ExperimentName> {
  experiment: E;
  settings: Partial<TrainSettings>;
  options: ExperimentOptionsByName[E];
  thresholdEpochs?: number;
  antiEpochs?: number;
}

/** The small-scale plan (see REPRODUCE_NOTES). */
export function reproducePlan(): Plan[] {
  return [
    { experiment: 'label-noise', settings: { epochs: 15 }, options: { noise: [0, 0.25, 0.5, 0.75, 1] } },
    { experiment: 'suppression', settings: { epochs: 15, batchSize: 20, momentum: 0 }, options: { rules: ['sgd', 'ra3', 'rm3', 'm3'], noise: [0, 0.5, 1] } },
    { experiment: 'winsorize', settings: { epochs: 25, batchSize: 32, momentum: 0, trainSize: 500 }, options: { levels: [0, 2, 4], noise: [0, 1] } },
    { experiment: 'easy-hard', settings: { epochs: 10, trainSize: 3000 }, options: { threshold: 0.5 }, thresholdEpochs: 5 },
    { experiment: 'difficulty', settings: { epochs: 15, batchSize: 20 }, options: { repeats: 8, threshold: 0.5, compareSgd: true }, thresholdEpochs: 5 },
    { experiment: 'anti-adversarial', settings: {}, options: { target: 1, goal: 0.9 }, antiEpochs: 40 },
  ];
}

const SETTING_FLAGS: Partial<Record<keyof TrainSettings, string>> = {
  epochs: '--epochs', momentum: '--momentum', batchSize: '--batch-size', lr: '--lr', trainSize: '--train-size', testSize: '--test-size', hidden: '--hidden', seed: '--seed',
};

function percentList(levels: number[]): string {
  return levels.map((p) => `${+(p * 100).toFixed(2)}%`).join(',');
}

/** The cgh experiment command that runs (or resumes) one part of the plan on its own. */
export function equivalentCommand(step: Plan, preset: string, out: string): string {
  const args = ['cgh', 'experiment', step.experiment, '--preset', preset];
  for (const [k, v] of Object.entries(step.settings)) {
    const flag = SETTING_FLAGS[k as keyof TrainSettings];
    if (!flag) throw new Error(`reproduce plan setting ${k} has no flag`);
    args.push(flag, Array.isArray(v) ? v.join(',') : String(v));
  }
  const o = step.options as unknown as Record<string, unknown>;
  if (o.noise) args.push('--noise', percentList(o.noise as number[]));
  if (o.rules) args.push('--rules', (o.rules as string[]).join(','));
  if (o.levels) args.push('--levels', (o.levels as number[]).join(','));
  if (o.threshold !== undefined) args.push('--threshold', percentList([o.threshold as number]));
  if (o.repeats !== undefined) args.push('--repeats', String(o.repeats));
  if (o.compareSgd === false) args.push('--compare-sgd=false');
  if (o.target !== undefined) args.push('--target', percentList([o.target as number]));
  if (o.goal !== undefined) args.push('--goal', percentList([o.goal as number]));
  if (step.thresholdEpochs !== undefined) args.push('--threshold-epochs', String(step.thresholdEpochs));
  if (step.antiEpochs !== undefined) args.push('--anti-epochs', String(step.antiEpochs));
  args.push('--out', path.join(out, step.experiment));
  return args.join(' ');
}

export interface ReproduceOptions extends ExperimentOptions {
  command: string;
  version?: string;
  /** Replace the plan (tests run a tiny one). */
  plan?: Plan[];
  /** Base preset of the plan (default mnist-small). */
  preset?: string;
}

export async function reproduce(out: string, o: ReproduceOptions): Promise<string> {
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const plan = o.plan ?? reproducePlan();
  const preset = o.preset ?? 'mnist-small';
  const t0 = performance.now();
  const gpu = await getGpu();
  fs.mkdirSync(out, { recursive: true });
  const timings: string[] = [];
  for (const step of plan) {
    const base = presetSettings(preset, step.experiment);
    const { thresholdEpochs, antiEpochs, ...settings } = { ...base, ...step.settings };
    const request: ExperimentRequest = {
      preset,
      settings,
      options: step.options,
      thresholdEpochs: step.thresholdEpochs ?? thresholdEpochs,
      antiEpochs: step.antiEpochs ?? antiEpochs,
      command: `${equivalentCommand(step, preset, out)}  (part of: ${o.command})`,
      version: o.version,
    };
    const s0 = performance.now();
    log(`== ${step.experiment}`);
    await runExperiment(step.experiment, path.join(out, step.experiment), request, { ...o, log });
    const took = (performance.now() - s0) / 1000;
    timings.push(`${step.experiment} ${took.toFixed(0)} s`);
    log(`== ${step.experiment} done in ${took.toFixed(0)} s`);
  }
  const total = (performance.now() - t0) / 1000;
  const intro = [
    `Produced by: ${o.command} (version ${o.version ?? 'unknown'}), on the WebGPU adapter ${gpu.report.name} (${gpu.report.backend}).`,
    `Wall time of this invocation: ${(total / 60).toFixed(1)} minutes (${timings.join(', ')}); parts finished by an earlier invocation take no time here.`,
    'Scale: the first 1,000 MNIST training images (500 for winsorize, 3,000 for easy/hard), 500 test images, a one-hidden-layer MLP, 10-40 epochs. The paper used ImageNet, ResNet-18/VGG-13/Inception-V3 and 90 epochs, so numbers differ; the predictions compared are qualitative.',
  ];
  writeFileAtomic(path.join(out, REPRODUCE_FILE), JSON.stringify({ command: o.command, version: o.version, adapter: gpu.report.name, seconds: total, intro }, null, 2) + '\n');
  return writeReport(out);
}

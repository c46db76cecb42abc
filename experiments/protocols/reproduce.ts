import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../../engine/context.js';
import { presetSettings } from './presets.js';
import { writeFileAtomic } from '../files/durable-file.js';
import { planGrids, runGrid, type ExperimentRequest, type GridRunOptions } from './grid.js';
import { findProtocol, PROTOCOLS } from './index.js';
import type { TrainSettings } from '../run/grid-run.js';
import { REPRODUCE_FILE, writeReport } from '../report/index.js';

/**
 * `cgh reproduce`: every experiment of the paper at small scale on the embedded MNIST, sized to finish in
 * under 20 minutes on a 2-core machine whose GPU is emulated on the CPU (Mesa lavapipe), then one report.
 * Each experiment lives in its own subfolder and resumes like cgh experiment.
 */
/** What cgh reproduce --help says it runs: the preset, then each protocol's part. */
export function reproduceNotes(): string {
  return `What it runs (preset mnist-small: an MLP with one hidden layer of 128 on the first 1,000 MNIST
training images, 500 test images, batch 50, lr 0.1, constant rate, dense early evaluation):
${reproducePlan().map((p) => `  ${p.experiment.padEnd(18)}${findProtocol(p.experiment)!.reproduce!.notes}`).join('\n')}
Small batches make the median rules' suppression visible at this scale (the paper notes that larger
batches make RM3 behave more like SGD). Kill it at any time and run the same command again: finished
runs are kept, the interrupted one resumes from its last epoch. The report is <out>/report.html, with one
CSV per table beside it; each part's report.html is in its own folder.`;
}

/** One part of the plan: an experiment with the settings that differ from the preset's and its options. */
export interface ReproduceStep {
  experiment: string;
  settings: Partial<TrainSettings>;
  options: Record<string, unknown>;
}

/** The small-scale plan: every protocol with a reproduce part, in the index's order. */
export function reproducePlan(): ReproduceStep[] {
  return PROTOCOLS.filter((p) => p.reproduce).map((p) => ({ experiment: p.name, settings: p.reproduce!.settings, options: p.reproduce!.options }));
}

const SETTING_FLAGS: Partial<Record<keyof TrainSettings, string>> = {
  epochs: '--epochs', momentum: '--momentum', batchSize: '--batch-size', lr: '--lr',
  trainSize: '--train-size', testSize: '--test-size', hidden: '--hidden', seed: '--seed',
};

/** A step's settings, and its options over the protocol's defaults (epoch budgets from the preset). */
function stepRequest(step: ReproduceStep, preset: string): { options: Record<string, unknown>; settings: TrainSettings } {
  const protocol = findProtocol(step.experiment);
  if (!protocol) throw new Error(`reproduce plan names an unknown experiment ${step.experiment}`);
  const { thresholdEpochs, antiEpochs, ...settings } = { ...presetSettings(preset, protocol.name), ...step.settings };
  const defaultFlags = Object.fromEntries(protocol.flags.map((f) => [camel(f.name), f.default]));
  const defaults = protocol.parseFlags(defaultFlags, { epochs: settings.epochs, thresholdEpochs, antiEpochs });
  return { options: { ...defaults, ...step.options }, settings };
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The cgh experiment command that runs (or resumes) one part of the plan on its own. */
export function equivalentCommand(step: ReproduceStep, preset: string, out: string): string {
  const args = ['cgh', 'experiment', step.experiment, '--preset', preset];
  for (const [k, v] of Object.entries(step.settings)) {
    const flag = SETTING_FLAGS[k as keyof TrainSettings];
    if (!flag) throw new Error(`reproduce plan setting ${k} has no flag`);
    args.push(flag, Array.isArray(v) ? v.join(',') : String(v));
  }
  const protocol = findProtocol(step.experiment)!;
  args.push(...protocol.toFlags({ ...step.options }), '--out', path.join(out, step.experiment));
  return args.join(' ');
}

export interface ReproduceOptions extends GridRunOptions {
  command: string;
  version?: string;
  /** Replace the plan (tests run a tiny one). */
  plan?: ReproduceStep[];
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
  const parts = plan.map((step) => {
    const { options, settings } = stepRequest(step, preset);
    const request: ExperimentRequest = { preset, settings, options, command: `${equivalentCommand(step, preset, out)}  (part of: `
      + `${o.command})`, version: o.version };
    return { experiment: step.experiment, out: path.join(out, step.experiment), request };
  });
  // The whole plan and its estimate first, then "run k of N" across all the parts.
  const tracker = await planGrids(parts, { ...o, log });
  for (const part of parts) {
    const s0 = performance.now();
    const step = part;
    log(`== ${step.experiment}`);
    await runGrid(step.experiment, part.out, part.request, { ...o, log, tracker });
    const took = (performance.now() - s0) / 1000;
    timings.push(`${step.experiment} ${took.toFixed(0)} s`);
    log(`== ${step.experiment} done in ${took.toFixed(0)} s`);
  }
  const total = (performance.now() - t0) / 1000;
  const intro = [
    `Produced by: ${o.command} (version ${o.version ?? 'unknown'}), on the WebGPU adapter ${gpu.report.name} (${gpu.report.backend}).`,
    `Wall time of this invocation: ${(total / 60).toFixed(1)} minutes (${timings.join(', ')}); parts finished by an earlier invocation take no time here.`,
    'Scale: the first 1,000 MNIST training images (500 for winsorize, 3,000 for easy/hard), 500 test images, a one-hidden-layer MLP, 10-40 epochs. The '
      + 'paper used ImageNet, ResNet-18/VGG-13/Inception-V3 and 90 epochs, so numbers differ; the predictions compared are qualitative.',
  ];
  writeFileAtomic(path.join(out, REPRODUCE_FILE), JSON.stringify({ command: o.command, version: o.version, adapter: gpu.report.name, seconds: total, intro },
    null, 2) + '\n');
  return writeReport(out);
}
